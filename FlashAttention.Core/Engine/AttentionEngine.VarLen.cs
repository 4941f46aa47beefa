using FlashAttention.Kernels.Portable;

namespace FlashAttention;

public sealed partial class AttentionEngine
{
    // The host forms' cu_seqlens (q's then k's), and the one-element stand-in every other launch
    // passes, so no kernel sees a null view; reused between calls.
    private MemoryBuffer1D<int, Stride1D.Dense>? sequenceBuffer;

    /// <summary>What a varlen launch adds to an ordinary one: the offsets, the number of sequences and the longest lengths.</summary>
    private readonly record struct VarLenLaunch(PackedSequences Sequences, int Batch, int MaxSeqLenQ, int MaxSeqLenK);

    /// <summary>The packed-sequence params of a launch that is not varlen (flag 0, real one-element views).</summary>
    private PackedSequences NoSequences()
    {
        var stub = Upload(ref sequenceBuffer, ReadOnlySpan<int>.Empty, 1);
        return new PackedSequences { Enabled = 0, CuSeqLensQ = stub, CuSeqLensK = stub };
    }

    /// <summary>
    /// Variable-length attention on host arrays (FlashAttention-2's <c>flash_attn_varlen_func</c>):
    /// batch = cuSeqLensQ.Length - 1 sequences packed along the token axis. Sequence b is query
    /// tokens cuSeqLensQ[b] .. cuSeqLensQ[b + 1] of <paramref name="q"/> against key tokens
    /// cuSeqLensK[b] .. cuSeqLensK[b + 1] of <paramref name="k"/> and <paramref name="v"/>; causal
    /// masking, the sliding window and the ALiBi distance are aligned to the bottom-right corner of
    /// each sequence (seqlen_q_b against seqlen_k_b); zero-length sequences are allowed. Returns a new
    /// contiguous output [1, total_q, heads_q, headdim] and, with <see cref="AttentionOptions.ReturnLse"/>,
    /// the LSE in the packed layout described at <see cref="ForwardVarLen{T}(DeviceTensor{T}, DeviceTensor{T}, DeviceTensor{T}, DeviceTensor{T}, ArrayView{float}, ArrayView{int}, ArrayView{int}, int, int, AttentionOptions?)"/>.
    /// </summary>
    /// <param name="q">[1, total_q, heads_q, headdim] (any strides with a contiguous head dim).</param>
    /// <param name="k">[1, total_k, heads_kv, headdim]; heads_q a multiple of heads_kv.</param>
    /// <param name="v">k's shape.</param>
    /// <param name="cuSeqLensQ">int32 [batch + 1]: 0, then non-decreasing offsets ending at total_q.</param>
    /// <param name="cuSeqLensK">int32 [batch + 1]: 0, then non-decreasing offsets ending at total_k.</param>
    /// <param name="maxSeqLenQ">At least the longest query sequence (the grid's query blocks), at most total_q.</param>
    /// <param name="maxSeqLenK">At least the longest key sequence, at most total_k.</param>
    /// <param name="options">As for <see cref="Forward{T}(HostTensor{T}, HostTensor{T}, HostTensor{T}, AttentionOptions?)"/>;
    /// ALiBi slopes are [heads_q] or [batch, heads_q]; bias and mask tensors are refused.</param>
    public AttentionResult<T> ForwardVarLen<T>(HostTensor<T> q, HostTensor<T> k, HostTensor<T> v, int[] cuSeqLensQ, int[] cuSeqLensK,
        int maxSeqLenQ, int maxSeqLenK, AttentionOptions? options = null) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(q);
        var output = Zeros<T>(q.Layout);
        options ??= AttentionOptions.Default;
        float[]? lse = options.ReturnLse ? new float[Math.Max(0, (long)q.Layout.Heads * q.Layout.SeqLen)] : null;
        ForwardVarLen(q, k, v, output, lse, cuSeqLensQ, cuSeqLensK, maxSeqLenQ, maxSeqLenK, options);
        return new AttentionResult<T>(output, lse);
    }

    /// <summary>
    /// Variable-length attention on host arrays into caller-owned outputs: <paramref name="output"/>
    /// (q's shape) and, if not null, <paramref name="lse"/> (heads_q * total_q floats, packed as at the
    /// device form). On invalid input nothing is written.
    /// </summary>
    public void ForwardVarLen<T>(HostTensor<T> q, HostTensor<T> k, HostTensor<T> v, HostTensor<T> output, float[]? lse,
        int[] cuSeqLensQ, int[] cuSeqLensK, int maxSeqLenQ, int maxSeqLenK, AttentionOptions? options = null) where T : unmanaged
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(q);
        ArgumentNullException.ThrowIfNull(k);
        ArgumentNullException.ThrowIfNull(v);
        ArgumentNullException.ThrowIfNull(output);
        options ??= AttentionOptions.Default;
        AttentionValidator.ElementType<T>();
        int batch = VarLenValidator.Forward(q.Layout, k.Layout, v.Layout, output.Layout, cuSeqLensQ, cuSeqLensK, maxSeqLenQ, maxSeqLenK, options);
        AttentionValidator.Fits(q.Layout, q.Data.LongLength, nameof(q));
        AttentionValidator.Fits(k.Layout, k.Data.LongLength, nameof(k));
        AttentionValidator.Fits(v.Layout, v.Data.LongLength, nameof(v));
        AttentionValidator.Fits(output.Layout, output.Data.LongLength, nameof(output));
        if (lse is not null)
            VarLenValidator.Lse(lse.LongLength, q.Layout, nameof(lse));
        var plan = PlanForward<T>(q.Layout.HeadDim, options);

        using var staging = new UploadSet<T>(Accelerator);
        using var dLse = Accelerator.Allocate1D<float>(lse?.LongLength ?? 0);
        var varLen = new VarLenLaunch(UploadSequences(cuSeqLensQ, cuSeqLensK), batch, maxSeqLenQ, maxSeqLenK);
        Launch(staging.Input(q), staging.Input(k), staging.Input(v), staging.Output(output), dLse.View, options, plan, varLen);
        Accelerator.Synchronize();
        staging.Download();
        if (lse is not null)
            dLse.View.AsContiguous().CopyToCPU(lse.AsSpan());
    }

    /// <summary>
    /// Variable-length attention on device tensors. The offsets are read back to the host once to be
    /// checked (batch + 1 ints each; this waits for the default stream), then the launch is
    /// asynchronous on the default stream, as <see cref="Forward{T}(DeviceTensor{T}, DeviceTensor{T}, DeviceTensor{T}, DeviceTensor{T}, ArrayView{float}, AttentionOptions?)"/>.
    /// </summary>
    /// <param name="q">[1, total_q, heads_q, headdim]: the sequences' query tokens one after another.</param>
    /// <param name="k">[1, total_k, heads_kv, headdim].</param>
    /// <param name="v">k's shape.</param>
    /// <param name="output">q's shape; overwritten.</param>
    /// <param name="lse">
    /// float32, heads_q * total_q, or an empty view to skip it. Layout: sequence b's [heads_q, seqlen_q_b]
    /// block, row-major, starts at heads_q * cu_seqlens_q[b], so LSE of (b, head h, token i of the sequence)
    /// is at heads_q * cu_seqlens_q[b] + h * seqlen_q_b + i. With equal lengths this is the padded call's
    /// [batch, heads_q, seqlen_q]. (FlashAttention-2 returns [heads_q, total_q]: transpose each block.)
    /// </param>
    /// <param name="cuSeqLensQ">int32 [batch + 1] on the device: 0, then non-decreasing offsets ending at total_q.</param>
    /// <param name="cuSeqLensK">int32 [batch + 1] on the device, ending at total_k.</param>
    /// <param name="maxSeqLenQ">At least the longest query sequence, at most total_q.</param>
    /// <param name="maxSeqLenK">At least the longest key sequence, at most total_k.</param>
    /// <param name="options">Scale, causality, window, ALiBi, soft cap, dropout, kernel and tile; no bias or mask tensors.</param>
    public void ForwardVarLen<T>(DeviceTensor<T> q, DeviceTensor<T> k, DeviceTensor<T> v, DeviceTensor<T> output, ArrayView<float> lse,
        ArrayView<int> cuSeqLensQ, ArrayView<int> cuSeqLensK, int maxSeqLenQ, int maxSeqLenK, AttentionOptions? options = null)
        where T : unmanaged
    {
        ThrowIfDisposed();
        options ??= AttentionOptions.Default;
        AttentionValidator.ElementType<T>();
        var (hostQ, hostK) = ReadOffsets(cuSeqLensQ, cuSeqLensK);
        int batch = VarLenValidator.Forward(q.Layout, k.Layout, v.Layout, output.Layout, hostQ, hostK, maxSeqLenQ, maxSeqLenK, options);
        AttentionValidator.Fits(q.Layout, q.View.Length, nameof(q));
        AttentionValidator.Fits(k.Layout, k.View.Length, nameof(k));
        AttentionValidator.Fits(v.Layout, v.View.Length, nameof(v));
        AttentionValidator.Fits(output.Layout, output.View.Length, nameof(output));
        if (lse.Length != 0)
            VarLenValidator.Lse(lse.Length, q.Layout, nameof(lse));
        var plan = PlanForward<T>(q.Layout.HeadDim, options);
        var sequences = new PackedSequences { Enabled = 1, CuSeqLensQ = cuSeqLensQ, CuSeqLensK = cuSeqLensK };
        Launch(q, k, v, output, lse, options, plan, new VarLenLaunch(sequences, batch, maxSeqLenQ, maxSeqLenK));
    }

    /// <summary>
    /// Gradients of variable-length attention on host arrays: returns new contiguous dQ, dK, dV (the
    /// packed shapes of q and k). <paramref name="lse"/> is the forward's, in its packed layout.
    /// </summary>
    public AttentionGradients<T> BackwardVarLen<T>(HostTensor<T> dOut, HostTensor<T> q, HostTensor<T> k, HostTensor<T> v,
        HostTensor<T> output, float[] lse, int[] cuSeqLensQ, int[] cuSeqLensK, int maxSeqLenQ, int maxSeqLenK,
        AttentionOptions? options = null) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(q);
        ArgumentNullException.ThrowIfNull(k);
        var dq = Zeros<T>(q.Layout);
        var dk = Zeros<T>(k.Layout);
        var dv = Zeros<T>(k.Layout);
        BackwardVarLen(dOut, q, k, v, output, lse, dq, dk, dv, cuSeqLensQ, cuSeqLensK, maxSeqLenQ, maxSeqLenK, options);
        return new AttentionGradients<T>(dq, dk, dv);
    }

    /// <summary>
    /// Gradients of variable-length attention on host arrays into caller-owned dq, dk, dv (packed,
    /// the shapes of q, k, v). Nothing is written on invalid input.
    /// </summary>
    public void BackwardVarLen<T>(HostTensor<T> dOut, HostTensor<T> q, HostTensor<T> k, HostTensor<T> v, HostTensor<T> output,
        float[] lse, HostTensor<T> dq, HostTensor<T> dk, HostTensor<T> dv, int[] cuSeqLensQ, int[] cuSeqLensK,
        int maxSeqLenQ, int maxSeqLenK, AttentionOptions? options = null) where T : unmanaged
    {
        ThrowIfDisposed();
        foreach (var (t, name) in new[] { (dOut, nameof(dOut)), (q, nameof(q)), (k, nameof(k)), (v, nameof(v)), (output, nameof(output)),
                     (dq, nameof(dq)), (dk, nameof(dk)), (dv, nameof(dv)) })
            ArgumentNullException.ThrowIfNull(t, name);
        ArgumentNullException.ThrowIfNull(lse, nameof(lse));
        options ??= AttentionOptions.Default;
        AttentionValidator.ElementType<T>();
        int batch = VarLenValidator.Backward(dOut.Layout, q.Layout, k.Layout, v.Layout, output.Layout, dq.Layout, dk.Layout, dv.Layout,
            cuSeqLensQ, cuSeqLensK, maxSeqLenQ, maxSeqLenK, options);
        foreach (var (t, name) in new[] { (dOut, nameof(dOut)), (q, nameof(q)), (k, nameof(k)), (v, nameof(v)), (output, nameof(output)),
                     (dq, nameof(dq)), (dk, nameof(dk)), (dv, nameof(dv)) })
            AttentionValidator.Fits(t.Layout, t.Data.LongLength, name);
        VarLenValidator.RequiredLse(lse.LongLength, q.Layout, nameof(lse));
        var tile = BackwardTileFor(q.Layout.HeadDim, options);

        using var staging = new UploadSet<T>(Accelerator);
        using var dLse = Accelerator.Allocate1D(lse);
        var varLen = new VarLenLaunch(UploadSequences(cuSeqLensQ, cuSeqLensK), batch, maxSeqLenQ, maxSeqLenK);
        LaunchBackward(staging.Input(dOut), staging.Input(q), staging.Input(k), staging.Input(v), staging.Input(output), dLse.View,
            staging.Output(dq), staging.Output(dk), staging.Output(dv), default, options, tile, varLen);
        Accelerator.Synchronize();
        staging.Download();
    }

    /// <summary>
    /// Gradients of variable-length attention on device tensors (the offsets are read back once to be
    /// checked, then the three passes launch asynchronously on the default stream). Deterministic, as
    /// <see cref="Backward{T}(DeviceTensor{T}, DeviceTensor{T}, DeviceTensor{T}, DeviceTensor{T}, DeviceTensor{T}, ArrayView{float}, DeviceTensor{T}, DeviceTensor{T}, DeviceTensor{T}, AttentionOptions?)"/>.
    /// </summary>
    /// <param name="dOut">dO, q's shape.</param>
    /// <param name="q">The forward's packed q.</param>
    /// <param name="k">The forward's packed k.</param>
    /// <param name="v">The forward's packed v.</param>
    /// <param name="output">The forward's output.</param>
    /// <param name="lse">The forward's LSE (heads_q * total_q, packed per sequence).</param>
    /// <param name="dq">Written: q's shape.</param>
    /// <param name="dk">Written: k's shape; with GQA/MQA summed over the query heads that share each key head.</param>
    /// <param name="dv">Written: v's shape, likewise.</param>
    /// <param name="cuSeqLensQ">The forward's query offsets (device, int32 [batch + 1]).</param>
    /// <param name="cuSeqLensK">The forward's key offsets.</param>
    /// <param name="maxSeqLenQ">The forward's maximum query length.</param>
    /// <param name="maxSeqLenK">The forward's maximum key length.</param>
    /// <param name="options">The forward's options, optionally with a backward tile.</param>
    public void BackwardVarLen<T>(DeviceTensor<T> dOut, DeviceTensor<T> q, DeviceTensor<T> k, DeviceTensor<T> v, DeviceTensor<T> output,
        ArrayView<float> lse, DeviceTensor<T> dq, DeviceTensor<T> dk, DeviceTensor<T> dv, ArrayView<int> cuSeqLensQ, ArrayView<int> cuSeqLensK,
        int maxSeqLenQ, int maxSeqLenK, AttentionOptions? options = null) where T : unmanaged
    {
        ThrowIfDisposed();
        options ??= AttentionOptions.Default;
        AttentionValidator.ElementType<T>();
        var (hostQ, hostK) = ReadOffsets(cuSeqLensQ, cuSeqLensK);
        int batch = VarLenValidator.Backward(dOut.Layout, q.Layout, k.Layout, v.Layout, output.Layout, dq.Layout, dk.Layout, dv.Layout,
            hostQ, hostK, maxSeqLenQ, maxSeqLenK, options);
        foreach (var (t, name) in new[] { (dOut, nameof(dOut)), (q, nameof(q)), (k, nameof(k)), (v, nameof(v)), (output, nameof(output)),
                     (dq, nameof(dq)), (dk, nameof(dk)), (dv, nameof(dv)) })
            AttentionValidator.Fits(t.Layout, t.View.Length, name);
        VarLenValidator.RequiredLse(lse.Length, q.Layout, nameof(lse));
        var tile = BackwardTileFor(q.Layout.HeadDim, options);
        var sequences = new PackedSequences { Enabled = 1, CuSeqLensQ = cuSeqLensQ, CuSeqLensK = cuSeqLensK };
        LaunchBackward(dOut, q, k, v, output, lse, dq, dk, dv, default, options, tile, new VarLenLaunch(sequences, batch, maxSeqLenQ, maxSeqLenK));
    }

    /// <summary>Copies (checked already) host offsets to the device: q's at the start of the buffer, k's after them.</summary>
    private PackedSequences UploadSequences(int[] cuSeqLensQ, int[] cuSeqLensK)
    {
        int n = cuSeqLensQ.Length;
        var both = new int[2 * n];
        cuSeqLensQ.CopyTo(both, 0);
        cuSeqLensK.CopyTo(both, n);
        var view = Upload(ref sequenceBuffer, both, both.Length);
        return new PackedSequences { Enabled = 1, CuSeqLensQ = view.SubView(0, n), CuSeqLensK = view.SubView(n, n) };
    }

    /// <summary>Host copies of device offsets, for the checks (an empty or oversized view is reported by the validator by length).</summary>
    private (int[] Q, int[] K) ReadOffsets(ArrayView<int> cuSeqLensQ, ArrayView<int> cuSeqLensK)
    {
        const long Limit = AttentionValidator.MaxGridYZ + 1;
        if (cuSeqLensQ.Length > Limit)
            throw new ArgumentException(
                $"cuSeqLensQ: length is {cuSeqLensQ.Length}; expected batch + 1 <= {Limit}", nameof(cuSeqLensQ));
        if (cuSeqLensK.Length > Limit)
            throw new ArgumentException(
                $"cuSeqLensK: length is {cuSeqLensK.Length}; expected batch + 1 <= {Limit}", nameof(cuSeqLensK));
        var q = new int[cuSeqLensQ.Length];
        var k = new int[cuSeqLensK.Length];
        Accelerator.DefaultStream.Synchronize(); // the offsets may have been written by earlier launches
        if (q.Length != 0)
            cuSeqLensQ.CopyToCPU(q);
        if (k.Length != 0)
            cuSeqLensK.CopyToCPU(k);
        Accelerator.DefaultStream.Synchronize(); // the copies run on the default stream: let them land before the checks read them
        return (q, k);
    }
}
