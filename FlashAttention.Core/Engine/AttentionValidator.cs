using FlashAttention.Kernels.Launch;

namespace FlashAttention;

/// <summary>
/// Checks a forward call before anything is written or launched. Every message names the
/// argument, the dimension, the value found and the value expected.
/// </summary>
internal static class AttentionValidator
{
    /// <summary>CUDA's grid limit in y and z, where heads and batch go.</summary>
    public const int MaxGridYZ = 65535;

    public static void ElementType<T>()
    {
        if (!KernelCatalog.IsSupportedElement(typeof(T)))
            throw new NotSupportedException(
                $"element type {typeof(T).Name} is not supported; expected float, ILGPU.Half or FlashAttention.BFloat16");
    }

    public static void Forward(TensorLayout q, TensorLayout k, TensorLayout v, TensorLayout o, AttentionOptions options)
    {
        Positive(q, nameof(q));
        Positive(k, nameof(k));
        Positive(v, nameof(v));
        if (q.HeadDim > TileConfig.MaxHeadDim)
            throw new ArgumentException($"q: head dim is {q.HeadDim}; expected {TileConfig.MinHeadDim} to {TileConfig.MaxHeadDim}", nameof(q));
        Equal(k.HeadDim, q.HeadDim, nameof(k), "head dim", "q's head dim");
        Equal(v.HeadDim, q.HeadDim, nameof(v), "head dim", "q's head dim");
        Equal(k.Batch, q.Batch, nameof(k), "batch", "q's batch");
        Equal(v.Batch, q.Batch, nameof(v), "batch", "q's batch");
        Equal(v.SeqLen, k.SeqLen, nameof(v), "seqlen", "k's seqlen");
        Equal(v.Heads, k.Heads, nameof(v), "heads", "k's heads");
        if (q.Heads % k.Heads != 0)
            throw new ArgumentException(
                $"k: heads is {k.Heads}; expected a divisor of q's heads ({q.Heads}) for grouped-query attention", nameof(k));
        if (!o.SameShape(q))
            throw new ArgumentException($"output: shape is {o.ShapeText}; expected q's shape {q.ShapeText}", "output");
        if (q.Batch > MaxGridYZ)
            throw new ArgumentException($"q: batch is {q.Batch}; expected at most {MaxGridYZ}", nameof(q));
        if (q.Heads > MaxGridYZ)
            throw new ArgumentException($"q: heads is {q.Heads}; expected at most {MaxGridYZ}", nameof(q));
        if (options.Scale is float s && !float.IsFinite(s))
            throw new ArgumentException($"options: Scale is {s}; expected a finite number", nameof(options));
        ScoreVariants(q, options);
        BiasAndMask(q, k.SeqLen, options);
    }

    /// <summary>
    /// Checks <see cref="AttentionOptions.Bias"/> and <see cref="AttentionOptions.Mask"/>: batch and heads
    /// 1 or the call's, seqlens the call's, data length their product; NaN in the bias is refused
    /// (one pass over the host array, cheap next to the attention), -inf is allowed (it hides the pair).
    /// </summary>
    private static void BiasAndMask(TensorLayout q, int seqLenK, AttentionOptions options)
    {
        string[] biases = [.. new[] { ("Bias", options.Bias is not null), ("DeviceBias", options.DeviceBias is not null),
            ("HalfBias", options.HalfBias is not null), ("DeviceHalfBias", options.DeviceHalfBias is not null) }.Where(b => b.Item2).Select(b => b.Item1)];
        if (biases.Length > 1)
            throw new ArgumentException($"options: {string.Join(" and ", biases)} are set; expected at most one bias", nameof(options));
        if (options.Bias is { } bias)
            HostBias("Bias", bias.Data, bias.Batch, bias.Heads, bias.SeqLenQ, bias.SeqLenK, q, seqLenK);
        if (options.HalfBias is { } hb)
            HostBias("HalfBias", hb.Data, hb.Batch, hb.Heads, hb.SeqLenQ, hb.SeqLenK, q, seqLenK);
        if (options.DeviceBias is { } db)
            TensorShape("DeviceBias", db.Data.Length, db.Batch, db.Heads, db.SeqLenQ, db.SeqLenK, q, seqLenK);
        if (options.DeviceHalfBias is { } dhb)
            TensorShape("DeviceHalfBias", dhb.Data.Length, dhb.Batch, dhb.Heads, dhb.SeqLenQ, dhb.SeqLenK, q, seqLenK);
        if (options.Mask is { } mask)
        {
            ArgumentNullException.ThrowIfNull(mask.Data, "options.Mask.Data");
            TensorShape("Mask", mask.Data.LongLength, mask.Batch, mask.Heads, mask.SeqLenQ, mask.SeqLenK, q, seqLenK);
        }
        if (options.DeviceMask is { } dm)
        {
            if (options.Mask is not null)
                throw new ArgumentException("options: both Mask and DeviceMask are set; expected at most one of them", nameof(options));
            TensorShape("DeviceMask", dm.Data.Length, dm.Batch, dm.Heads, dm.SeqLenQ, dm.SeqLenK, q, seqLenK);
        }
        if (options.BlockMask is { } bm)
            BlockMask(bm, q, seqLenK);
        if (options.ReturnBiasGradient && LogitTensorShape.BiasOf(options) is null)
            throw new ArgumentException("options: ReturnBiasGradient is set but Bias is null; expected a Bias to differentiate", nameof(options));
    }

    /// <summary>A host bias (float32 or float16): its shape, then no NaN (-inf is allowed: it hides the pair).</summary>
    private static void HostBias<T>(string option, T[] data, int batch, int heads, int seqLenQ, int seqLenK, TensorLayout q, int nk)
        where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(data, $"options.{option}.Data");
        TensorShape(option, data.LongLength, batch, heads, seqLenQ, seqLenK, q, nk);
        long nan = data switch { Half[] half => FirstNaN(half), float[] single => FirstNaN(single), _ => -1 };
        if (nan >= 0)
            throw new ArgumentException($"options: {option}.Data[{nan}] is NaN; expected a number or -Infinity (which hides the pair)", "options");
    }

    private static long FirstNaN(float[] data)
    {
        for (long e = 0; e < data.LongLength; e++)
            if (float.IsNaN(data[e]))
                return e;
        return -1;
    }

    private static long FirstNaN(Half[] data)
    {
        for (long e = 0; e < data.LongLength; e++)
            if (Half.IsNaN(data[e]))
                return e;
        return -1;
    }

    private static void BlockMask(AttentionBlockMask m, TensorLayout q, int nk)
    {
        ArgumentNullException.ThrowIfNull(m.Blocks, "options.BlockMask.Blocks");
        const int g = AttentionBlockMask.Granularity;
        if (m.BlockSizeQ <= 0 || m.BlockSizeQ % g != 0)
            throw new ArgumentException($"options: BlockMask.BlockSizeQ is {m.BlockSizeQ}; expected a positive multiple of {g}", "options");
        if (m.BlockSizeK <= 0 || m.BlockSizeK % g != 0)
            throw new ArgumentException($"options: BlockMask.BlockSizeK is {m.BlockSizeK}; expected a positive multiple of {g}", "options");
        if (m.Batch != 1 && m.Batch != q.Batch)
            throw new ArgumentException($"options: BlockMask.Batch is {m.Batch}; expected 1 (broadcast) or q's batch {q.Batch}", "options");
        if (m.Heads != 1 && m.Heads != q.Heads)
            throw new ArgumentException($"options: BlockMask.Heads is {m.Heads}; expected 1 (broadcast) or heads_q {q.Heads}", "options");
        int rows = (q.SeqLen + m.BlockSizeQ - 1) / m.BlockSizeQ;
        int cols = (nk + m.BlockSizeK - 1) / m.BlockSizeK;
        if (m.QueryBlocks != rows)
            throw new ArgumentException(
                $"options: BlockMask.QueryBlocks is {m.QueryBlocks}; expected ceil(seqlen_q {q.SeqLen} / BlockSizeQ {m.BlockSizeQ}) = {rows}", "options");
        if (m.KeyBlocks != cols)
            throw new ArgumentException(
                $"options: BlockMask.KeyBlocks is {m.KeyBlocks}; expected ceil(seqlen_k {nk} / BlockSizeK {m.BlockSizeK}) = {cols}", "options");
        long expected = (long)m.Batch * m.Heads * rows * cols;
        if (m.Blocks.LongLength != expected)
            throw new ArgumentException(
                $"options: BlockMask.Blocks has {m.Blocks.LongLength} elements; expected Batch * Heads * QueryBlocks * KeyBlocks = {expected} " +
                $"([{m.Batch}, {m.Heads}, {rows}, {cols}])", "options");
    }

    private static void TensorShape(string option, long length, int batch, int heads, int seqLenQ, int seqLenK, TensorLayout q, int nk)
    {
        if (batch != 1 && batch != q.Batch)
            throw new ArgumentException($"options: {option}.Batch is {batch}; expected 1 (broadcast) or q's batch {q.Batch}", "options");
        if (heads != 1 && heads != q.Heads)
            throw new ArgumentException($"options: {option}.Heads is {heads}; expected 1 (broadcast) or heads_q {q.Heads}", "options");
        if (seqLenQ != q.SeqLen)
            throw new ArgumentException($"options: {option}.SeqLenQ is {seqLenQ}; expected q's seqlen {q.SeqLen}", "options");
        if (seqLenK != nk)
            throw new ArgumentException($"options: {option}.SeqLenK is {seqLenK}; expected k's seqlen {nk}", "options");
        long expected = (long)batch * heads * seqLenQ * seqLenK;
        if (length != expected)
            throw new ArgumentException(
                $"options: {option}.Data has {length} elements; expected Batch * Heads * SeqLenQ * SeqLenK = {expected} " +
                $"([{batch}, {heads}, {seqLenQ}, {seqLenK}])", "options");
    }

    /// <summary>Checks the sliding window, the ALiBi slopes (against q's batch and heads) and the soft cap.</summary>
    private static void ScoreVariants(TensorLayout q, AttentionOptions options)
    {
        if (options.Window is { } w)
        {
            if (w.Left < AttentionWindow.Unbounded)
                throw new ArgumentException(
                    $"options: Window.Left is {w.Left}; expected -1 (unbounded) or a number of keys >= 0", nameof(options));
            if (w.Right < AttentionWindow.Unbounded)
                throw new ArgumentException(
                    $"options: Window.Right is {w.Right}; expected -1 (unbounded) or a number of keys >= 0", nameof(options));
        }
        if (options.AlibiSlopes is { } slopes)
        {
            long perHead = q.Heads, perBatch = (long)q.Batch * q.Heads;
            if (slopes.Length != perHead && slopes.Length != perBatch)
                throw new ArgumentException(
                    $"options: AlibiSlopes has {slopes.Length} elements; expected heads_q = {perHead} (float32 [heads_q]) " +
                    $"or batch * heads_q = {perBatch} (float32 [batch, heads_q] = [{q.Batch}, {q.Heads}])", nameof(options));
            for (int h = 0; h < slopes.Length; h++)
            {
                if (!float.IsFinite(slopes[h]))
                    throw new ArgumentException($"options: AlibiSlopes[{h}] is {Text(slopes[h])}; expected a finite number", nameof(options));
            }
        }
        float dropout = options.DropoutP;
        if (!(dropout >= 0f && dropout < 1f))
            throw new ArgumentException(
                $"options: DropoutP is {Text(dropout)}; expected 0 (off) or a probability in [0, 1)", nameof(options));
        float cap = options.Softcap;
        if (!float.IsFinite(cap) || cap < 0)
            throw new ArgumentException($"options: Softcap is {Text(cap)}; expected 0 (off) or a finite number > 0", nameof(options));
    }

    // The same text in every culture ("Infinity", "NaN", "-1.5"), so messages can be matched.
    private static string Text(float value) => value.ToString(System.Globalization.CultureInfo.InvariantCulture);

    public static void Backward(TensorLayout dOut, TensorLayout q, TensorLayout k, TensorLayout v, TensorLayout output,
        TensorLayout dq, TensorLayout dk, TensorLayout dv, AttentionOptions options)
    {
        Forward(q, k, v, output, options);
        if (!dOut.SameShape(q))
            throw new ArgumentException($"dOut: shape is {dOut.ShapeText}; expected the output's shape {q.ShapeText}", nameof(dOut));
        if (!dq.SameShape(q))
            throw new ArgumentException($"dq: shape is {dq.ShapeText}; expected q's shape {q.ShapeText}", nameof(dq));
        if (!dk.SameShape(k))
            throw new ArgumentException($"dk: shape is {dk.ShapeText}; expected k's shape {k.ShapeText}", nameof(dk));
        if (!dv.SameShape(v))
            throw new ArgumentException($"dv: shape is {dv.ShapeText}; expected v's shape {v.ShapeText}", nameof(dv));
    }

    /// <summary>A dBias output needs a bias and must have its number of elements; an empty one (length 0) is no request.</summary>
    public static void BiasGradient(long length, AttentionOptions options, string paramName)
    {
        if (length == 0)
            return;
        if (LogitTensorShape.BiasOf(options) is not { } bias)
            throw new ArgumentException($"{paramName}: given, but options.Bias is null; expected a Bias to differentiate", paramName);
        if (length != bias.Length)
            throw new ArgumentException(
                $"{paramName}: length is {length}; expected the bias's {bias.Length} elements ({bias.Text})", paramName);
    }

    /// <summary>The backward needs the forward's LSE: an empty one is reported as missing.</summary>
    public static void RequiredLse(long length, TensorLayout q, string paramName)
    {
        if (length == 0)
            throw new ArgumentException(
                $"{paramName}: missing; expected the forward's LSE, float32 [{q.Batch}, {q.Heads}, {q.SeqLen}] (AttentionOptions.ReturnLse)", paramName);
        Lse(length, q, paramName);
    }

    public static void Lse(long length, TensorLayout q, string paramName)
    {
        long expected = (long)q.Batch * q.Heads * q.SeqLen;
        if (length != expected)
            throw new ArgumentException(
                $"{paramName}: length is {length}; expected batch * heads_q * seqlen_q = {expected} (float32 [{q.Batch}, {q.Heads}, {q.SeqLen}])",
                paramName);
    }

    /// <summary>Checks that every element of <paramref name="layout"/> lies inside a buffer of <paramref name="length"/>.</summary>
    public static void Fits(TensorLayout layout, long length, string paramName)
    {
        if (layout.Offset < 0 || layout.BatchStride < 0 || layout.SeqStride < 0 || layout.HeadStride < 0)
            throw new ArgumentException($"{paramName}: offset and strides must not be negative (offset {layout.Offset}, strides " +
                                        $"{layout.BatchStride}/{layout.SeqStride}/{layout.HeadStride})", paramName);
        if (layout.RequiredLength > length)
            throw new ArgumentException(
                $"{paramName}: buffer holds {length} elements; expected at least {layout.RequiredLength} for shape {layout.ShapeText} " +
                $"with offset {layout.Offset} and strides {layout.BatchStride}/{layout.SeqStride}/{layout.HeadStride}", paramName);
    }

    /// <summary>Every dimension of <paramref name="t"/> is at least 1; <paramref name="name"/> may be a member path ("cache.K"), whose root names the argument.</summary>
    internal static void Positive(TensorLayout t, string name)
    {
        Dim(t.Batch, name, "batch");
        Dim(t.SeqLen, name, "seqlen");
        Dim(t.Heads, name, "heads");
        Dim(t.HeadDim, name, "head dim");
    }

    private static void Dim(int value, string name, string dimension)
    {
        if (value <= 0)
            throw new ArgumentException($"{name}: {dimension} is {value}; expected at least 1", name.Split('.')[0]);
    }

    private static void Equal(int actual, int expected, string name, string dimension, string what)
    {
        if (actual != expected)
            throw new ArgumentException($"{name}: {dimension} is {actual}; expected {expected} ({what})", name);
    }
}
