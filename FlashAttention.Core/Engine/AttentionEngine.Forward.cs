using FlashAttention.Kernels.Portable;

namespace FlashAttention;

public sealed partial class AttentionEngine
{
    /// <summary>
    /// An engine on a borrowed accelerator whose tensor-core forwards seed S as <paramref name="seeding"/> says, whatever
    /// FLASH_SEED_SCORES says (<see cref="Kernels.Launch.TensorCoreForwardLauncher.SeedSwitch"/>): tests check each setting in one process.
    /// </summary>
    internal static AttentionEngine WithScoreSeeding(Accelerator accelerator, Kernels.Launch.ScoreSeeding seeding) =>
        new(null, accelerator, ownsAccelerator: false, seeding: seeding);

    private const float Log2E = 1.4426950408889634f;

    /// <summary>
    /// Attention on device tensors: output = softmax(q k^T * scale + mask) v, and the LSE when
    /// <paramref name="lse"/> is not empty. Launches asynchronously on the accelerator's default
    /// stream (synchronize before reading). Nothing is launched if any argument is invalid.
    /// </summary>
    /// <param name="q">[batch, seqlen_q, heads_q, headdim].</param>
    /// <param name="k">[batch, seqlen_k, heads_kv, headdim]; heads_q must be a multiple of heads_kv (GQA/MQA).</param>
    /// <param name="v">Same shape as <paramref name="k"/>.</param>
    /// <param name="output">Same shape as <paramref name="q"/>; overwritten.</param>
    /// <param name="lse">float32 [batch, heads_q, seqlen_q] contiguous, or an empty view to skip it.</param>
    /// <param name="options">Scale, causality, tile; null for the defaults.</param>
    public void Forward<T>(DeviceTensor<T> q, DeviceTensor<T> k, DeviceTensor<T> v, DeviceTensor<T> output,
        ArrayView<float> lse, AttentionOptions? options = null) where T : unmanaged
    {
        ThrowIfDisposed();
        options ??= AttentionOptions.Default;
        AttentionValidator.ElementType<T>();
        AttentionValidator.Forward(q.Layout, k.Layout, v.Layout, output.Layout, options);
        AttentionValidator.Fits(q.Layout, q.View.Length, nameof(q));
        AttentionValidator.Fits(k.Layout, k.View.Length, nameof(k));
        AttentionValidator.Fits(v.Layout, v.View.Length, nameof(v));
        AttentionValidator.Fits(output.Layout, output.View.Length, nameof(output));
        if (lse.Length != 0)
            AttentionValidator.Lse(lse.Length, q.Layout, nameof(lse));
        var plan = PlanForward<T>(q.Layout.HeadDim, options, seqLenK: k.Layout.SeqLen);
        Launch(q, k, v, output, lse, options, plan);
    }

    /// <summary>
    /// Attention on a packed [batch, seqlen, 3, heads, headdim] qkv buffer (self-attention, MHA).
    /// </summary>
    public void ForwardPackedQkv<T>(ArrayView<T> qkv, int batch, int seqLen, int heads, int headDim,
        DeviceTensor<T> output, ArrayView<float> lse, AttentionOptions? options = null) where T : unmanaged
    {
        var (ql, kl, vl) = TensorLayout.PackedQkv(batch, seqLen, heads, headDim);
        Forward(new DeviceTensor<T>(qkv, ql), new DeviceTensor<T>(qkv, kl), new DeviceTensor<T>(qkv, vl), output, lse, options);
    }

    /// <summary>Attention with q apart and k, v packed as [batch, seqlen_k, 2, heads_kv, headdim].</summary>
    public void ForwardPackedKv<T>(DeviceTensor<T> q, ArrayView<T> kv, int seqLenK, int headsKv,
        DeviceTensor<T> output, ArrayView<float> lse, AttentionOptions? options = null) where T : unmanaged
    {
        var (kl, vl) = TensorLayout.PackedKv(q.Layout.Batch, seqLenK, headsKv, q.Layout.HeadDim);
        Forward(q, new DeviceTensor<T>(kv, kl), new DeviceTensor<T>(kv, vl), output, lse, options);
    }

    /// <summary>
    /// Attention on host tensors: uploads, runs, downloads, and returns a new contiguous output
    /// (and the LSE when <see cref="AttentionOptions.ReturnLse"/>).
    /// </summary>
    public AttentionResult<T> Forward<T>(HostTensor<T> q, HostTensor<T> k, HostTensor<T> v, AttentionOptions? options = null)
        where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(q);
        var output = Zeros<T>(q.Layout);
        options ??= AttentionOptions.Default;
        float[]? lse = options.ReturnLse ? new float[Math.Max(0, (long)q.Layout.Batch * q.Layout.Heads * q.Layout.SeqLen)] : null;
        Forward(q, k, v, output, lse, options);
        return new AttentionResult<T>(output, lse);
    }

    /// <summary>
    /// Attention on host tensors into caller-owned outputs: <paramref name="output"/> (q's shape, any layout)
    /// and, if not null, <paramref name="lse"/> (batch * heads_q * seqlen_q floats). On invalid input
    /// nothing is written.
    /// </summary>
    public void Forward<T>(HostTensor<T> q, HostTensor<T> k, HostTensor<T> v, HostTensor<T> output, float[]? lse,
        AttentionOptions? options = null) where T : unmanaged
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(q);
        ArgumentNullException.ThrowIfNull(k);
        ArgumentNullException.ThrowIfNull(v);
        ArgumentNullException.ThrowIfNull(output);
        options ??= AttentionOptions.Default;
        AttentionValidator.ElementType<T>();
        AttentionValidator.Forward(q.Layout, k.Layout, v.Layout, output.Layout, options);
        AttentionValidator.Fits(q.Layout, q.Data.LongLength, nameof(q));
        AttentionValidator.Fits(k.Layout, k.Data.LongLength, nameof(k));
        AttentionValidator.Fits(v.Layout, v.Data.LongLength, nameof(v));
        AttentionValidator.Fits(output.Layout, output.Data.LongLength, nameof(output));
        if (lse is not null)
            AttentionValidator.Lse(lse.LongLength, q.Layout, nameof(lse));
        var plan = PlanForward<T>(q.Layout.HeadDim, options, seqLenK: k.Layout.SeqLen);

        using var staging = new UploadSet<T>(Accelerator);
        using var dLse = Accelerator.Allocate1D<float>(lse?.LongLength ?? 0);
        Launch(staging.Input(q), staging.Input(k), staging.Input(v), staging.Output(output), dLse.View, options, plan);
        Accelerator.Synchronize();
        staging.Download();
        if (lse is not null)
            dLse.View.AsContiguous().CopyToCPU(lse.AsSpan());
    }

    /// <summary>Self-attention on a packed host [batch, seqlen, 3, heads, headdim] qkv array.</summary>
    public AttentionResult<T> ForwardPackedQkv<T>(T[] qkv, int batch, int seqLen, int heads, int headDim, AttentionOptions? options = null)
        where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(qkv);
        var (ql, kl, vl) = TensorLayout.PackedQkv(batch, seqLen, heads, headDim);
        return Forward(new HostTensor<T>(qkv, ql), new HostTensor<T>(qkv, kl), new HostTensor<T>(qkv, vl), options);
    }

    /// <summary>Attention with host q and k, v packed as [batch, seqlen_k, 2, heads_kv, headdim].</summary>
    public AttentionResult<T> ForwardPackedKv<T>(HostTensor<T> q, T[] kv, int seqLenK, int headsKv, AttentionOptions? options = null)
        where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(q);
        ArgumentNullException.ThrowIfNull(kv);
        var (kl, vl) = TensorLayout.PackedKv(q.Layout.Batch, seqLenK, headsKv, q.Layout.HeadDim);
        return Forward(q, new HostTensor<T>(kv, kl), new HostTensor<T>(kv, vl), options);
    }

    /// <summary>Which kernel and tile a call runs; throws (launching nothing) when the options ask for what cannot run here.</summary>
    /// <remarks>
    /// <paramref name="seqLenK"/>: the keys of every batch item, or 0 (varlen and ring calls); when even, a bias alone runs its own score mode.
    /// </remarks>
    private ForwardPlan PlanForward<T>(int headDim, AttentionOptions options, int seqLenK = 0) where T : unmanaged
    {
        bool evenKeys = seqLenK > 0 && seqLenK % 2 == 0;
        bool sixteenBit = typeof(T) == typeof(Half) || typeof(T) == typeof(BFloat16);
        bool tensorCores = options.Kernel switch
        {
            KernelPath.Portable => false,
            KernelPath.TensorCore => true,
            _ => options.TensorCoreTile is not null || (options.Tile is null && sixteenBit && HasTensorCores),
        };
        if (!tensorCores)
        {
            if (options.Tile is null)
                return new ForwardPlan(DefaultTile(headDim), null);
            options.Tile.Validate(headDim, SharedMemoryLimitBytes, Accelerator.MaxNumThreadsPerGroup, nameof(options));
            return new ForwardPlan(options.Tile, null);
        }
        if (!sixteenBit)
            throw new ArgumentException(
                $"options: the tensor-core kernel takes Half or BFloat16 inputs; got {typeof(T).Name} (use KernelPath.Portable or Auto)", nameof(options));
        if (!HasTensorCores && Accelerator.AcceleratorType != AcceleratorType.CPU)
            throw new ArgumentException(
                $"options: the tensor-core kernel needs a CUDA device of compute capability 8.0 or newer (or the CPU accelerator, " +
                $"which emulates it); this engine runs on {Accelerator.AcceleratorType} '{DeviceName}'", nameof(options));
        if (options.TensorCoreTile is null)
            return new ForwardPlan(null, DefaultTensorCoreTile(headDim, options.Causal,
                scoreTensors: LogitTensorShape.BiasOf(options) is not null || (LogitTensorShape.MaskOf(options) is not null && !TakesMaskBits(options)),
                dropout: options.DropoutP > 0, biasAlone: evenKeys && BiasAlone(options), halfBias: evenKeys && ReadsHalfBias(options, seqLenK)));
        options.TensorCoreTile.Validate(headDim, SharedMemoryLimitBytes, nameof(options));
        if (options.BlockMask is { } blocks && blocks.BlockSizeQ % options.TensorCoreTile.Br != 0)
            throw new ArgumentException(
                $"options: tensor-core tile Warps={options.TensorCoreTile.Warps} has {options.TensorCoreTile.Br}-row query blocks, which do not divide " +
                $"BlockMask.BlockSizeQ {blocks.BlockSizeQ}; expected Warps 4 or 8 with a block mask", nameof(options));
        if (options.TensorCoreTile.Wgmma && Accelerator.AcceleratorType != AcceleratorType.CPU && !HasWgmma)
            throw new ArgumentException(
                $"options: tensor-core tile Wgmma needs a CUDA device of compute capability 9.0 (sm_90a; or the CPU accelerator, which emulates it); " +
                $"this engine runs on {Accelerator.AcceleratorType} '{DeviceName}'", nameof(options));
        return new ForwardPlan(null, options.TensorCoreTile);
    }

    /// <summary>A bias and nothing else on the scores: the tensor-core launcher's bias-only mode (when seqlen_k is even).</summary>
    private static bool BiasAlone(AttentionOptions options) =>
        LogitTensorShape.BiasOf(options) is not null && LogitTensorShape.MaskOf(options) is null && options.BlockMask is null
        && options.Softcap == 0 && options.AlibiSlopes is null && options.DropoutP == 0;

    /// <summary>The kernel a forward call runs: exactly one of the two tiles is set.</summary>
    private readonly record struct ForwardPlan(TileConfig? Portable, TensorCoreTile? TensorCore);

    private ForwardParams<T> ForwardParamsOf<T>(DeviceTensor<T> q, DeviceTensor<T> k, DeviceTensor<T> v, DeviceTensor<T> output,
        ArrayView<float> lse, AttentionOptions options, bool halfBiasInPlace) where T : unmanaged
    {
        var ql = q.Layout;
        return new ForwardParams<T>
        {
            Q = q.ToKernel(),
            K = k.ToKernel(),
            V = v.ToKernel(),
            O = output.ToKernel(),
            Lse = lse,
            WriteLse = lse.Length != 0 ? 1 : 0,
            SeqLenQ = ql.SeqLen,
            SeqLenK = k.Layout.SeqLen,
            HeadsQ = ql.Heads,
            HeadDim = ql.HeadDim,
            QueryHeadsPerKvHead = ql.Heads / k.Layout.Heads,
            ScaleLog2 = options.ScaleFor(ql.HeadDim) * Log2E,
            RawBiasUnit = 1f / options.ScaleFor(ql.HeadDim),
            Mask = MaskOf(options, ql.SeqLen, k.Layout.SeqLen),
            Scores = ScoresOf(options, ql, k.Layout.SeqLen, halfBiasInPlace: halfBiasInPlace),
            Dropout = DropoutOf(options, ql),
            Blocks = BlocksOf(options, ql, k.Layout.SeqLen),
            Sequences = NoSequences(),
            Bits = NoMaskBits(),
        };
    }

    private void Launch<T>(DeviceTensor<T> q, DeviceTensor<T> k, DeviceTensor<T> v, DeviceTensor<T> output,
        ArrayView<float> lse, AttentionOptions options, ForwardPlan plan, VarLenLaunch? varLen = null) where T : unmanaged
    {
        var p = ForwardParamsOf(q, k, v, output, lse, options,
            halfBiasInPlace: plan.TensorCore is not null && varLen is null && ReadsHalfBias(options, k.Layout.SeqLen));
        int batch = q.Layout.Batch;
        if (varLen is { } packed)
        {
            p.SeqLenQ = packed.MaxSeqLenQ;
            p.SeqLenK = packed.MaxSeqLenK;
            p.Mask = MaskOf(options, packed.MaxSeqLenQ, packed.MaxSeqLenK); // each group rebuilds it from its sequence's lengths
            p.Sequences = packed.Sequences;
            batch = packed.Batch;
        }
        if (plan.TensorCore is not null && varLen is null && TakesMaskBits(options))
            UseMaskBits(ref p, options, deriveBlocks: MaskBlocksKernel.BlockSize % plan.TensorCore.Br == 0);
        if (plan.TensorCore is not null)
            tensorCoreForward.Launch(Accelerator.DefaultStream, p, batch, plan.TensorCore);
        else
            forward.Launch(Accelerator.DefaultStream, p, batch, plan.Portable!);
    }
}
