using FlashAttention.Kernels.Portable;

namespace FlashAttention;

public sealed partial class AttentionEngine
{
    private MemoryBuffer1D<float, Stride1D.Dense>? deltaScratch;

    /// <summary>
    /// Bytes of device memory the backward allocates beyond its inputs and outputs: D = rowsum(dO * O),
    /// one float per query row and head (O(seqlen), never O(seqlen^2)). The engine keeps this buffer
    /// between calls and grows it when needed.
    /// </summary>
    public static long BackwardScratchBytes(int batch, int headsQ, int seqLenQ) => (long)batch * headsQ * seqLenQ * sizeof(float);

    /// <summary>
    /// Gradients of attention on device tensors: given dO (the loss's gradient with respect to the
    /// output), the forward's inputs, its output and LSE, computes dQ, dK, dV by recomputing the
    /// scores tile by tile. Deterministic: no atomics, the same inputs give bitwise-equal gradients.
    /// Launches asynchronously on the default stream; nothing is launched if an argument is invalid.
    /// </summary>
    /// <param name="dOut">dO, q's shape.</param>
    /// <param name="q">The forward's q.</param>
    /// <param name="k">The forward's k.</param>
    /// <param name="v">The forward's v.</param>
    /// <param name="output">The forward's output O.</param>
    /// <param name="lse">The forward's LSE, float32 [batch, heads_q, seqlen_q] (request it with <see cref="AttentionOptions.ReturnLse"/>).</param>
    /// <param name="dq">Written: q's shape.</param>
    /// <param name="dk">Written: k's shape; with GQA/MQA summed over the query heads that share each key head.</param>
    /// <param name="dv">Written: v's shape, likewise.</param>
    /// <param name="options">The options of the forward (scale, causality, window, ALiBi, soft cap) and optionally a backward tile.</param>
    public void Backward<T>(DeviceTensor<T> dOut, DeviceTensor<T> q, DeviceTensor<T> k, DeviceTensor<T> v, DeviceTensor<T> output,
        ArrayView<float> lse, DeviceTensor<T> dq, DeviceTensor<T> dk, DeviceTensor<T> dv, AttentionOptions? options = null)
        where T : unmanaged =>
        Backward(dOut, q, k, v, output, lse, dq, dk, dv, default, options);

    /// <summary>
    /// The device backward that also writes dBias (the loss's gradient with respect to
    /// <see cref="AttentionOptions.Bias"/>, summed over its broadcast dims) into <paramref name="dBias"/>,
    /// float32 of the bias's shape; an empty view skips it. A broadcast bias needs a full-size
    /// [batch, heads_q, seqlen_q, seqlen_k] float32 scratch, kept by the engine between calls.
    /// </summary>
    public void Backward<T>(DeviceTensor<T> dOut, DeviceTensor<T> q, DeviceTensor<T> k, DeviceTensor<T> v, DeviceTensor<T> output,
        ArrayView<float> lse, DeviceTensor<T> dq, DeviceTensor<T> dk, DeviceTensor<T> dv, ArrayView<float> dBias,
        AttentionOptions? options) where T : unmanaged
    {
        ThrowIfDisposed();
        options ??= AttentionOptions.Default;
        AttentionValidator.ElementType<T>();
        AttentionValidator.Backward(dOut.Layout, q.Layout, k.Layout, v.Layout, output.Layout, dq.Layout, dk.Layout, dv.Layout, options);
        foreach (var (t, name) in new[] { (dOut, nameof(dOut)), (q, nameof(q)), (k, nameof(k)), (v, nameof(v)), (output, nameof(output)),
                     (dq, nameof(dq)), (dk, nameof(dk)), (dv, nameof(dv)) })
            AttentionValidator.Fits(t.Layout, t.View.Length, name);
        AttentionValidator.RequiredLse(lse.Length, q.Layout, nameof(lse));
        AttentionValidator.BiasGradient(dBias.Length, options, nameof(dBias));
        var tile = BackwardTileFor(q.Layout.HeadDim, options);
        LaunchBackward(dOut, q, k, v, output, lse, dq, dk, dv, dBias, options, tile);
    }

    /// <summary>Gradients of attention on host tensors: returns new contiguous dQ, dK, dV.</summary>
    public AttentionGradients<T> Backward<T>(HostTensor<T> dOut, HostTensor<T> q, HostTensor<T> k, HostTensor<T> v,
        HostTensor<T> output, float[] lse, AttentionOptions? options = null) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(q);
        ArgumentNullException.ThrowIfNull(k);
        var dq = Zeros<T>(q.Layout);
        var dk = Zeros<T>(k.Layout);
        var dv = Zeros<T>(k.Layout);
        float[]? dBias = options is { ReturnBiasGradient: true } && LogitTensorShape.BiasOf(options) is { } bias ? new float[bias.Length] : null;
        Backward(dOut, q, k, v, output, lse, dq, dk, dv, dBias, options);
        return new AttentionGradients<T>(dq, dk, dv) { DBias = dBias };
    }

    /// <summary>
    /// Gradients of attention on host tensors into caller-owned dq, dk, dv (any layouts of the right
    /// shapes; they may share one array, e.g. a packed dqkv). Nothing is written on invalid input.
    /// </summary>
    public void Backward<T>(HostTensor<T> dOut, HostTensor<T> q, HostTensor<T> k, HostTensor<T> v, HostTensor<T> output,
        float[] lse, HostTensor<T> dq, HostTensor<T> dk, HostTensor<T> dv, AttentionOptions? options = null) where T : unmanaged =>
        Backward(dOut, q, k, v, output, lse, dq, dk, dv, null, options);

    /// <summary>
    /// The host backward into caller-owned arrays that also writes dBias into <paramref name="dBias"/>
    /// (float32 of <see cref="AttentionOptions.Bias"/>'s shape, summed over its broadcast dims); null skips it.
    /// </summary>
    public void Backward<T>(HostTensor<T> dOut, HostTensor<T> q, HostTensor<T> k, HostTensor<T> v, HostTensor<T> output,
        float[] lse, HostTensor<T> dq, HostTensor<T> dk, HostTensor<T> dv, float[]? dBias, AttentionOptions? options) where T : unmanaged
    {
        ThrowIfDisposed();
        foreach (var (t, name) in new[] { (dOut, nameof(dOut)), (q, nameof(q)), (k, nameof(k)), (v, nameof(v)), (output, nameof(output)),
                     (dq, nameof(dq)), (dk, nameof(dk)), (dv, nameof(dv)) })
            ArgumentNullException.ThrowIfNull(t, name);
        ArgumentNullException.ThrowIfNull(lse, nameof(lse));
        options ??= AttentionOptions.Default;
        AttentionValidator.ElementType<T>();
        AttentionValidator.Backward(dOut.Layout, q.Layout, k.Layout, v.Layout, output.Layout, dq.Layout, dk.Layout, dv.Layout, options);
        foreach (var (t, name) in new[] { (dOut, nameof(dOut)), (q, nameof(q)), (k, nameof(k)), (v, nameof(v)), (output, nameof(output)),
                     (dq, nameof(dq)), (dk, nameof(dk)), (dv, nameof(dv)) })
            AttentionValidator.Fits(t.Layout, t.Data.LongLength, name);
        AttentionValidator.RequiredLse(lse.LongLength, q.Layout, nameof(lse));
        AttentionValidator.BiasGradient(dBias?.LongLength ?? 0, options, nameof(dBias));
        var tile = BackwardTileFor(q.Layout.HeadDim, options);

        using var staging = new UploadSet<T>(Accelerator);
        using var dLse = Accelerator.Allocate1D(lse);
        using var dBiasDevice = Accelerator.Allocate1D<float>(dBias?.LongLength ?? 0);
        LaunchBackward(staging.Input(dOut), staging.Input(q), staging.Input(k), staging.Input(v), staging.Input(output), dLse.View,
            staging.Output(dq), staging.Output(dk), staging.Output(dv), dBiasDevice.View, options, tile);
        Accelerator.Synchronize();
        staging.Download();
        if (dBias is not null)
            dBiasDevice.View.AsContiguous().CopyToCPU(dBias.AsSpan());
    }

    /// <summary>
    /// Gradients for a packed [batch, seqlen, 3, heads, headdim] qkv: returns dqkv in the same packed layout.
    /// </summary>
    public T[] BackwardPackedQkv<T>(HostTensor<T> dOut, T[] qkv, int batch, int seqLen, int heads, int headDim,
        HostTensor<T> output, float[] lse, AttentionOptions? options = null) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(qkv);
        var (ql, kl, vl) = TensorLayout.PackedQkv(batch, seqLen, heads, headDim);
        var dqkv = new T[qkv.LongLength];
        Backward(dOut, new HostTensor<T>(qkv, ql), new HostTensor<T>(qkv, kl), new HostTensor<T>(qkv, vl), output, lse,
            new HostTensor<T>(dqkv, ql), new HostTensor<T>(dqkv, kl), new HostTensor<T>(dqkv, vl), options);
        return dqkv;
    }

    /// <summary>
    /// Gradients for q apart and k, v packed as [batch, seqlen_k, 2, heads_kv, headdim]: returns dq
    /// (contiguous) and dkv in the packed layout.
    /// </summary>
    public (HostTensor<T> DQ, T[] DKV) BackwardPackedKv<T>(HostTensor<T> dOut, HostTensor<T> q, T[] kv, int seqLenK, int headsKv,
        HostTensor<T> output, float[] lse, AttentionOptions? options = null) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(q);
        ArgumentNullException.ThrowIfNull(kv);
        var (kl, vl) = TensorLayout.PackedKv(q.Layout.Batch, seqLenK, headsKv, q.Layout.HeadDim);
        var dq = Zeros<T>(q.Layout);
        var dkv = new T[kv.LongLength];
        Backward(dOut, q, new HostTensor<T>(kv, kl), new HostTensor<T>(kv, vl), output, lse,
            dq, new HostTensor<T>(dkv, kl), new HostTensor<T>(dkv, vl), options);
        return (dq, dkv);
    }

    private TileConfig BackwardTileFor(int headDim, AttentionOptions options)
    {
        if (options.BackwardTile is null)
            return DefaultBackwardTile(headDim);
        options.BackwardTile.Validate(headDim, SharedMemoryLimitBytes, Accelerator.MaxNumThreadsPerGroup, nameof(options), backward: true);
        return options.BackwardTile;
    }

    private void LaunchBackward<T>(DeviceTensor<T> dOut, DeviceTensor<T> q, DeviceTensor<T> k, DeviceTensor<T> v, DeviceTensor<T> output,
        ArrayView<float> lse, DeviceTensor<T> dq, DeviceTensor<T> dk, DeviceTensor<T> dv, ArrayView<float> dBias,
        AttentionOptions options, TileConfig tile, VarLenLaunch? varLen = null)
        where T : unmanaged
    {
        var ql = q.Layout;
        long rows = (long)ql.Batch * ql.Heads * ql.SeqLen;
        if (deltaScratch is null || deltaScratch.Length < rows)
        {
            deltaScratch?.Dispose();
            deltaScratch = Accelerator.Allocate1D<float>(rows);
        }
        float scale = options.ScaleFor(ql.HeadDim);
        var gradientTarget = dBias.Length != 0 ? BiasGradientTarget(LogitTensorShape.BiasOf(options)!.Value, ql, dBias) : default;
        var p = new BackwardParams<T>
        {
            Q = q.ToKernel(),
            K = k.ToKernel(),
            V = v.ToKernel(),
            O = output.ToKernel(),
            DO = dOut.ToKernel(),
            DQ = dq.ToKernel(),
            DK = dk.ToKernel(),
            DV = dv.ToKernel(),
            Lse = lse,
            Delta = deltaScratch.View.SubView(0, rows),
            SeqLenQ = ql.SeqLen,
            SeqLenK = k.Layout.SeqLen,
            HeadsQ = ql.Heads,
            HeadDim = ql.HeadDim,
            QueryHeadsPerKvHead = ql.Heads / k.Layout.Heads,
            Scale = scale,
            ScaleLog2 = scale * Log2E,
            Mask = MaskOf(options, ql.SeqLen, k.Layout.SeqLen),
            Scores = ScoresOf(options, ql, k.Layout.SeqLen, gradientTarget),
            Dropout = DropoutOf(options, ql),
            Blocks = BlocksOf(options, ql, k.Layout.SeqLen),
            Sequences = NoSequences(),
        };
        int batch = ql.Batch;
        if (varLen is { } packed)
        {
            // D shares the LSE's packed layout: heads_q * total_q floats, as sized above (batch 1, seqlen total_q).
            p.SeqLenQ = packed.MaxSeqLenQ;
            p.SeqLenK = packed.MaxSeqLenK;
            p.Mask = MaskOf(options, packed.MaxSeqLenQ, packed.MaxSeqLenK);
            p.Sequences = packed.Sequences;
            batch = packed.Batch;
        }
        backward.Launch(Accelerator.DefaultStream, p, batch, k.Layout.Heads, tile);
        if (dBias.Length != 0)
            ReduceBiasGradient(LogitTensorShape.BiasOf(options)!.Value, ql, gradientTarget, dBias);
    }
}
