using FlashAttention.IO;

namespace FlashAttention.Bench;

/// <summary>
/// The q, k and v files of <c>verify</c>, read and checked against one another before anything
/// runs or is written. Every problem is a <see cref="BenchInputException"/> naming the file.
/// </summary>
internal sealed class VerifyInputs
{
    private VerifyInputs(NpyArray q, NpyArray k, NpyArray v, NpyArray? dOut, NpyDType dtype, float[]? alibiSlopes,
        AttentionBias? bias, AttentionBooleanMask? mask, int[]? cuSeqLensQ = null, int[]? cuSeqLensK = null)
    {
        CuSeqLensQ = cuSeqLensQ;
        CuSeqLensK = cuSeqLensK;
        Bias = bias;
        Mask = mask;
        Q = q;
        K = k;
        V = v;
        DOut = dOut;
        DType = dtype;
        AlibiSlopes = alibiSlopes;
    }

    public NpyArray Q { get; }

    public NpyArray K { get; }

    public NpyArray V { get; }

    /// <summary>dO for the backward (same shape and dtype as q), when --do is given.</summary>
    public NpyArray? DOut { get; }

    /// <summary>The common element type: float32, float16, or uint16 holding bfloat16 bits.</summary>
    public NpyDType DType { get; }

    /// <summary>The ALiBi slopes from --alibi ([heads_q] or [batch, heads_q], flattened), or null.</summary>
    public float[]? AlibiSlopes { get; }

    /// <summary>The bias from --bias, or null.</summary>
    public AttentionBias? Bias { get; }

    /// <summary>--bias when the file holds float16.</summary>
    public AttentionHalfBias? HalfBias { get; private init; }

    /// <summary>The mask from --mask, or null.</summary>
    public AttentionBooleanMask? Mask { get; }

    /// <summary>cu_seqlens_q from --cu-seqlens-q (varlen), or null.</summary>
    public int[]? CuSeqLensQ { get; }

    /// <summary>cu_seqlens_k from --cu-seqlens-k (varlen), or null.</summary>
    public int[]? CuSeqLensK { get; }

    /// <summary>
    /// The shape of a q, k, v or dO file as [batch, seqlen, heads, headdim]: a packed varlen file
    /// [total_tokens, heads, headdim] reads as batch 1 with the tokens as seqlen.
    /// </summary>
    public static int[] Dims(NpyArray a) => a.Rank == 3 ? [1, a.Shape[0], a.Shape[1], a.Shape[2]] : [.. a.Shape];

    public static VerifyInputs Load(VerifyArgs args)
    {
        var q = ReadTensor(args.Q, args.BFloat16, args.VarLen);
        var k = ReadTensor(args.K, args.BFloat16, args.VarLen);
        var v = ReadTensor(args.V, args.BFloat16, args.VarLen);

        SameDType(k, args.K, q, args.Q);
        SameDType(v, args.V, q, args.Q);
        SameDim(k, args.K, 0, "batch", q, args.Q);
        SameDim(k, args.K, 3, "head dim", q, args.Q);
        SameDim(v, args.V, 0, "batch", k, args.K);
        SameDim(v, args.V, 1, "seqlen", k, args.K);
        SameDim(v, args.V, 2, "heads", k, args.K);
        SameDim(v, args.V, 3, "head dim", k, args.K);
        if (Dims(q)[2] % Dims(k)[2] != 0)
            throw new BenchInputException(
                $"{args.K}: heads is {Dims(k)[2]} (shape {k.ShapeText}); expected a divisor of q's heads {Dims(q)[2]} ({args.Q}) for grouped-query attention");
        if (args.Scale is float s && !float.IsFinite(s))
            throw new BenchInputException($"--scale is {s}; expected a finite number");
        if (args.Softcap is float cap && (!float.IsFinite(cap) || cap < 0))
            throw new BenchInputException($"--softcap is {cap}; expected 0 (off) or a finite number > 0");
        if (args.Dropout is float drop && !(drop >= 0f && drop < 1f))
            throw new BenchInputException($"--dropout is {drop}; expected a probability in [0, 1) (0 is off)");
        if (args.Window is { } w && (w.Left < -1 || w.Right < -1))
            throw new BenchInputException($"--window is {w.Left} {w.Right}; expected LEFT and RIGHT each -1 (unbounded) or >= 0");
        int[]? cuQ = null, cuK = null;
        if (args.VarLen)
        {
            if (args.CuSeqLensQ is null || args.CuSeqLensK is null)
                throw new BenchInputException(
                    $"--cu-seqlens-{(args.CuSeqLensQ is null ? "k" : "q")} is given alone; expected both --cu-seqlens-q and --cu-seqlens-k");
            if (args.Bias is not null || args.Mask is not null)
                throw new BenchInputException("--bias and --mask are not supported with --cu-seqlens-q / --cu-seqlens-k (variable-length batches)");
            cuQ = ReadOffsets(args.CuSeqLensQ);
            cuK = ReadOffsets(args.CuSeqLensK);
            if (cuK.Length != cuQ.Length)
                throw new BenchInputException(
                    $"{args.CuSeqLensK}: length is {cuK.Length}; expected batch + 1 = {cuQ.Length} like {args.CuSeqLensQ}");
        }
        // ALiBi slopes per batch item: for a varlen call, per sequence.
        float[]? slopes = args.Alibi is null ? null : ReadSlopes(args.Alibi, q, args.Q, cuQ is null ? Dims(q)[0] : cuQ.Length - 1);
        NpyArray? dOut = null;
        if (args.Do is not null)
        {
            dOut = ReadTensor(args.Do, args.BFloat16, args.VarLen);
            SameDType(dOut, args.Do, q, args.Q);
            for (int axis = 0; axis < 4; axis++)
                SameDim(dOut, args.Do, axis, AxisNames[axis], q, args.Q);
        }
        AttentionBias? bias = null;
        AttentionHalfBias? halfBias = null;
        if (args.Bias is not null)
        {
            // float32, or float16 as torch keeps an fp16 call's attn_mask (then passed on as HalfBias, half the bytes).
            var a = ReadLogitTensor(args.Bias, [NpyDType.Float32, NpyDType.Float16], "'<f4' float32 or '<f2' float16 bias", q, k, args.Q, args.K);
            var halves = a.DType == NpyDType.Float16 ? a.AsHalf() : null;
            var singles = halves is null ? a.AsSingle() : null;
            int nan = halves is not null ? Array.FindIndex(halves, Half.IsNaN) : Array.FindIndex(singles!, float.IsNaN);
            if (nan >= 0)
                throw new BenchInputException($"{args.Bias}: element {nan} is NaN; expected numbers (-inf allowed: it hides the pair)");
            if (halves is not null)
                halfBias = new AttentionHalfBias(halves, a.Shape[0], a.Shape[1], a.Shape[2], a.Shape[3]);
            else
                bias = new AttentionBias(singles!, a.Shape[0], a.Shape[1], a.Shape[2], a.Shape[3]);
        }
        AttentionBooleanMask? mask = null;
        if (args.Mask is not null)
        {
            var a = ReadLogitTensor(args.Mask, [NpyDType.Bool], "'|b1' bool mask", q, k, args.Q, args.K);
            mask = new AttentionBooleanMask(a.AsBool(), a.Shape[0], a.Shape[1], a.Shape[2], a.Shape[3]);
        }
        return new VerifyInputs(q, k, v, dOut, q.DType, slopes, bias, mask, cuQ, cuK) { HalfBias = halfBias };
    }

    /// <summary>Reads --cu-seqlens-q / -k: int32, rank 1, at least two offsets (the engine checks their values).</summary>
    private static int[] ReadOffsets(string path)
    {
        var array = Read(path);
        if (array.DType != NpyDType.Int32)
            throw new BenchInputException($"{path}: dtype is {array.DType.Name()} ('{array.Descr}'); expected int32 ('<i4') cumulative sequence offsets");
        if (array.Rank != 1 || array.Shape[0] < 2)
            throw new BenchInputException($"{path}: shape is {array.ShapeText}; expected [batch + 1] with batch >= 1 (int32 cu_seqlens, starting at 0)");
        return array.AsInt32();
    }

    /// <summary>Reads a .npy file; a malformed or unreadable file becomes a <see cref="BenchInputException"/> naming it.</summary>
    private static NpyArray Read(string path)
    {
        try
        {
            return NpyFile.Read(path);
        }
        catch (NpyFormatException e)
        {
            throw new BenchInputException(e.Message);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new BenchInputException($"{path}: cannot read: {e.Message}");
        }
    }

    /// <summary>
    /// Reads --bias or --mask: the given dtype, rank 4, [batch | 1, heads_q | 1, seqlen_q, seqlen_k]
    /// of q and k (torch's attn_mask broadcasting, restricted to those two dims).
    /// </summary>
    private static NpyArray ReadLogitTensor(string path, NpyDType[] dtypes, string what, NpyArray q, NpyArray k, string qPath, string kPath)
    {
        var array = Read(path);
        if (!dtypes.Contains(array.DType))
            throw new BenchInputException($"{path}: dtype is {array.DType.Name()} ('{array.Descr}'); expected a {what}");
        int batch = q.Shape[0], heads = q.Shape[2], nq = q.Shape[1], nk = k.Shape[1];
        bool fits = array.Rank == 4 && (array.Shape[0] == 1 || array.Shape[0] == batch) && (array.Shape[1] == 1 || array.Shape[1] == heads)
                    && array.Shape[2] == nq && array.Shape[3] == nk;
        if (!fits)
            throw new BenchInputException(
                $"{path}: shape is {array.ShapeText}; expected [batch | 1, heads_q | 1, seqlen_q, seqlen_k] = [{batch} or 1, {heads} or 1, {nq}, {nk}] " +
                $"of q ({qPath}) and k ({kPath})");
        return array;
    }

    /// <summary>Reads --alibi: float32, shape [heads_q] or [batch, heads_q] of q, every slope finite.</summary>
    private static float[] ReadSlopes(string path, NpyArray q, string qPath, int batch)
    {
        var array = Read(path);
        int heads = Dims(q)[2];
        if (array.DType != NpyDType.Float32)
            throw new BenchInputException($"{path}: dtype is {array.DType.Name()} ('{array.Descr}'); expected float32 ('<f4') ALiBi slopes");
        bool perHead = array.Rank == 1 && array.Shape[0] == heads;
        bool perBatch = array.Rank == 2 && array.Shape[0] == batch && array.Shape[1] == heads;
        if (!perHead && !perBatch)
            throw new BenchInputException(
                $"{path}: shape is {array.ShapeText}; expected [heads_q] = [{heads}] or [batch, heads_q] = [{batch}, {heads}] of q ({qPath})");
        var slopes = array.AsSingle();
        int bad = Array.FindIndex(slopes, x => !float.IsFinite(x));
        if (bad >= 0)
            throw new BenchInputException($"{path}: slope {bad} is {slopes[bad]}; expected finite numbers");
        return slopes;
    }

    private static readonly string[] AxisNames = ["batch", "seqlen", "heads", "head dim"];

    private static NpyArray ReadTensor(string path, bool bf16, bool packed)
    {
        var array = Read(path);

        if (packed && array.Rank != 3)
            throw new BenchInputException(
                $"{path}: rank is {array.Rank} (shape {array.ShapeText}); expected 3 dims [total_tokens, heads, headdim] with --cu-seqlens-q / -k");
        if (!packed && array.Rank != 4)
            throw new BenchInputException(
                $"{path}: rank is {array.Rank} (shape {array.ShapeText}); expected 4 dims [batch, seqlen, heads, headdim]");
        if (array.Shape.Any(d => d == 0))
            throw new BenchInputException($"{path}: shape {array.ShapeText} has a zero dimension; expected every dim to be at least 1");
        bool fits = bf16 ? array.DType == NpyDType.UInt16 : array.DType is NpyDType.Float32 or NpyDType.Float16;
        if (!fits)
        {
            string found = $"dtype is {array.DType.Name()} ('{array.Descr}')";
            throw new BenchInputException(bf16
                ? $"{path}: {found}; with --bf16 every input must be uint16 ('<u2') holding bfloat16 bits"
                : array.DType == NpyDType.UInt16
                    ? $"{path}: {found}; uint16 inputs are bfloat16 bits only with --bf16"
                    : $"{path}: {found}; expected float32 ('<f4') or float16 ('<f2'), or uint16 bfloat16 bits with --bf16");
        }
        return array;
    }

    private static void SameDType(NpyArray a, string aPath, NpyArray q, string qPath)
    {
        if (a.DType != q.DType)
            throw new BenchInputException(
                $"{aPath}: dtype is {a.DType.Name()} ('{a.Descr}'); expected q's dtype {q.DType.Name()} ('{q.Descr}', {qPath})");
    }

    private static void SameDim(NpyArray a, string aPath, int axis, string name, NpyArray b, string bPath)
    {
        if (Dims(a)[axis] != Dims(b)[axis])
            throw new BenchInputException(
                $"{aPath}: {name} is {Dims(a)[axis]} (shape {a.ShapeText}); expected {Dims(b)[axis]} like {bPath} (shape {b.ShapeText})");
    }
}
