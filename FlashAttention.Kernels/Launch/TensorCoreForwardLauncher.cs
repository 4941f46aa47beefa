using FlashAttention.Kernels.Portable;
using FlashAttention.Kernels.TensorCore;
using ILGPU.Runtime.Cuda;

namespace FlashAttention.Kernels.Launch;

/// <summary>Launches the tensor-core forward kernel (fp16 or bf16) on one accelerator. Thread-safe.</summary>
public sealed class TensorCoreForwardLauncher(Accelerator accelerator)
{
    private readonly KernelCache kernels = new(accelerator);
    private readonly bool nativePtx = accelerator is CudaAccelerator;

    /// <summary>Experiments only: FLASH_TC_GENERAL_BIAS=1 runs a bias alone through <see cref="TensorScores"/>, as before <see cref="BiasScores"/>.</summary>
    private static readonly bool GeneralBias = Environment.GetEnvironmentVariable("FLASH_TC_GENERAL_BIAS") == "1";

    /// <summary>Experiments only: FLASH_STAGED_BIAS=0 keeps a float16 bias on wgmma in the register prefetch (<see cref="HalfBiasScores"/>).</summary>
    private static readonly bool NoStagedBias = Environment.GetEnvironmentVariable("FLASH_STAGED_BIAS") == "0";

    /// <summary>Experiments only: FLASH_STAGED_MASK=0 keeps a packed mask on wgmma in the register loads (<see cref="BitMaskScores"/>).</summary>
    private static readonly bool NoStagedMask = Environment.GetEnvironmentVariable("FLASH_STAGED_MASK") == "0";

    /// <summary>
    /// Read once per process: which forwards seed S (<see cref="ScoreSeeding"/>), the default of <see cref="Seeding"/>.
    /// <see cref="ScoreSeeding.PackedMaskOnWgmma"/> unless FLASH_SEED_SCORES=0 (none) or 1 (<see cref="ScoreSeeding.All"/>, experiments).
    /// </summary>
    public static readonly ScoreSeeding SeedSwitch = Environment.GetEnvironmentVariable("FLASH_SEED_SCORES") switch
    {
        "0" => ScoreSeeding.None,
        "1" => ScoreSeeding.All,
        _ => ScoreSeeding.PackedMaskOnWgmma,
    };

    private readonly int sharedMemoryLimit = DeviceLimits.SharedMemoryPerGroup(accelerator);

    /// <summary>Which launches seed S (<see cref="SeededScores{TMode}"/>); <see cref="SeedSwitch"/> unless an engine says otherwise (tests).</summary>
    public ScoreSeeding Seeding { get; init; } = SeedSwitch;

    /// <summary>
    /// Runs attention for <paramref name="batch"/> items; <typeparamref name="T"/> is Half or BFloat16.
    /// The caller has validated shapes, strides, views and the tile; this picks the copy path from
    /// the tensors' alignment, builds the grid and launches (asynchronously on <paramref name="stream"/>).
    /// </summary>
    public void Launch<T>(AcceleratorStream stream, in ForwardParams<T> p, int batch, TensorCoreTile tile)
        where T : unmanaged
    {
        var bits = p.As<T, ushort>();
        bits.VectorAligned = RowsAligned(bits) ? 1 : 0;
        ref var tensors = ref bits.Scores.Elements;
        // The prefetch reads pairs, and reads pair 0 of an absent tensor's placeholder: both views need two elements
        // (a float16 bias holds a pair in each 4-byte element).
        bool halfBias = tensors.BiasHalf != 0;
        tensors.PairAligned = tensors.SeqLenK % 2 == 0 && tensors.Bias.Length >= (halfBias ? 1 : 2) && tensors.Mask.Length >= 2
                              && VectorAlignment.AddressOf(tensors.Bias) % (halfBias ? 4ul : 8ul) == 0 && VectorAlignment.AddressOf(tensors.Mask) % 2 == 0 ? 1 : 0;
        if (nativePtx)
        {
            bits.Q.Address = VectorAlignment.AddressOf(bits.Q.Data);
            bits.K.Address = VectorAlignment.AddressOf(bits.K.Data);
            bits.V.Address = VectorAlignment.AddressOf(bits.V.Data);
            tensors.BiasAddress = VectorAlignment.AddressOf(tensors.Bias);
            bits.Bits.Address = VectorAlignment.AddressOf(bits.Bits.Words);
        }
        int dim = tile.CompiledDim(p.HeadDim);
        bool biasOnly = BiasOnly(bits);
        if (halfBias && !biasOnly)
            throw new InvalidOperationException(
                "A float16 bias reaches the tensor-core kernel only as the call's sole score variant, seqlen_k even and the view 4-byte aligned; the engine widens it otherwise");
        bool staged = halfBias && biasOnly && tile.Wgmma && !NoStagedBias && StagesBias(tensors)
                      && tile.SharedMemoryBytes(p.HeadDim, stagedBias: true) <= sharedMemoryLimit;
        bool stagedMask = StagesMask(bits, tile, p.HeadDim);
        bool seeded = Seeds(bits, tile, staged);
        var method = KernelCatalog.TensorCoreForward(nativePtx, typeof(T) == typeof(BFloat16), dim, tile.Warps, tile.WarpRows, tile.Bc, p.Scores.HasPointwise,
            p.Scores.Elements.IsActive && !biasOnly, p.Dropout.Enabled != 0, p.Bits.Enabled != 0, tile.Wgmma, biasOnly, halfBias,
            tile.Pipelined, staged, stagedMask, seeded);
        int elements = tile.SharedMemoryBytes(p.HeadDim, staged, stagedMask) / sizeof(ushort);
        // More than 256 threads must be bounded, or ptxas may give them more registers than one group's share of the SM.
        int groupsPerSM = tile.GroupsPerSM == 0 && tile.Threads > 256 ? 1 : tile.GroupsPerSM;
        var kernel = kernels.Get<ForwardParams<ushort>>(method, elements * sizeof(ushort), tile.Threads, promoteAsmOperands: true, groupsPerSM);
        int queryBlocks = (p.SeqLenQ + tile.Br - 1) / tile.Br;
        var grid = SharesTensorsAcrossBatch(bits, batch)
            ? new Index3D(queryBlocks * batch, p.HeadsQ, 1)
            : new Index3D(queryBlocks, p.HeadsQ, batch);
        kernel(stream, new KernelConfig(grid, new Index3D(tile.Threads, 1, 1), SharedMemoryConfig.RequestDynamic<ushort>(elements)), bits);
    }

    /// <summary>
    /// Whether the batch items read the same bias and mask (every tensor present broadcasts over the
    /// batch): then grid x takes (query block, batch item) with the batch fastest, so a broadcast
    /// tile's second read comes from L2. With the batch in grid z the items' groups run a grid's
    /// worth of heads apart, and a [1, H, N, N] bias is fetched from memory once per item. Only
    /// kernels with the tensors decode the folded grid (<see cref="TensorCoreForwardKernel"/>);
    /// varlen calls never have them.
    /// </summary>
    private static bool SharesTensorsAcrossBatch(in ForwardParams<ushort> p, int batch)
    {
        var e = p.Scores.Elements;
        return batch > 1 && p.Sequences.Enabled == 0 && e.IsActive
               && (e.HasBias == 0 || e.BiasBatchStride == 0) && (e.HasMask == 0 || e.MaskBatchStride == 0);
    }

    /// <summary>
    /// Whether the call's only score variant is a bias whose pairs load aligned (<see cref="BiasScores"/>): no mask tensor,
    /// soft cap, ALiBi, dropout or packed mask. Anything else with a bias takes the general <see cref="TensorScores"/>.
    /// </summary>
    private static bool BiasOnly(in ForwardParams<ushort> p)
    {
        var e = p.Scores.Elements;
        return !GeneralBias && e.HasBias != 0 && e.HasMask == 0 && e.PairAligned != 0 && !p.Scores.HasPointwise && p.Dropout.Enabled == 0 && p.Bits.Enabled == 0;
    }

    /// <summary>
    /// Whether the call's only score variant is the packed mask (<see cref="BitMaskScores"/>): no bias or mask tensor, soft cap,
    /// ALiBi or dropout beside it.
    /// </summary>
    private static bool PackedMaskAlone(in ForwardParams<ushort> p) =>
        p.Bits.Enabled != 0 && !p.Scores.HasPointwise && !p.Scores.Elements.IsActive && p.Dropout.Enabled == 0;

    /// <summary>
    /// Whether a packed mask's words are staged through shared memory (<see cref="StagedBitMaskScores"/>): the call's only score
    /// variant is the packed mask (<see cref="BitMaskScores"/>), on a wgmma kernel, and the stages leave room for the groups per SM
    /// the tile is bounded to. H100, fp16, B 2 x N 8192, a random mask, three rounds in two calls (docs/PERFORMANCE.md,
    /// session 20): d 64 4.62-4.66 ms against 4.89-4.90 in registers, d 128 3.41 against 3.42-3.44.
    /// </summary>
    private bool StagesMask(in ForwardParams<ushort> p, TensorCoreTile tile, int headDim)
    {
        if (NoStagedMask || !PackedMaskAlone(p) || !tile.Wgmma)
            return false;
        int groups = Math.Max(1, tile.GroupsPerSM);
        // The SM holds the per-group limit plus 1 KB reserved per group (as TensorCoreTile.TwoGroupsFit).
        return groups * (tile.SharedMemoryBytes(headDim, stagedMask: true) + 1024) <= sharedMemoryLimit + 1024;
    }

    /// <summary>
    /// Whether this call starts S's product from its mask or bias (<see cref="SeededScores{TMode}"/>), as <see cref="Seeding"/> allows:
    /// a packed mask alone (<see cref="BitMaskScores"/> or <see cref="StagedBitMaskScores"/>), or a staged float16 bias at a positive
    /// scale (the seed is b / scale in the units of S, which a product scaled by a negative or zero scale would not keep); never in
    /// the pipelined kernel, whose product overwrites S.
    /// </summary>
    private bool Seeds(in ForwardParams<ushort> p, TensorCoreTile tile, bool stagedBias)
    {
        if (Seeding == ScoreSeeding.None || tile.Pipelined)
            return false;
        bool maskAlone = PackedMaskAlone(p);
        if (Seeding == ScoreSeeding.PackedMaskOnWgmma)
            return maskAlone && tile.Wgmma;
        return maskAlone || (stagedBias && p.ScaleLog2 > 0f);
    }

    /// <summary>
    /// Whether cp.async can stage a float16 bias's rows (<see cref="StagedHalfBiasScores"/>): each copy moves 16 bytes
    /// between 16-byte-aligned addresses, so seqlen_k is a multiple of 8 (as are the batch and head strides) and
    /// the view starts on 16 bytes.
    /// </summary>
    private static bool StagesBias(in ScoreBias e) =>
        Stageable(VectorAlignment.AddressOf(e.Bias), e.SeqLenK) && e.BiasBatchStride % 8 == 0 && e.BiasHeadStride % 8 == 0;

    private static bool Stageable(ulong address, int seqLenK) => seqLenK % 8 == 0 && address % 16 == 0;

    /// <summary>
    /// Whether the bias-only mode can read <paramref name="bias"/> (float16, with <paramref name="seqLenK"/> keys a row)
    /// as it is, a pair of keys a 4-byte load: seqlen_k even and the view's first element on 4 bytes.
    /// </summary>
    public static bool ReadsHalfBias(ArrayView<Half> bias, int seqLenK) =>
        seqLenK % 2 == 0 && bias.Length >= 2 && VectorAlignment.AddressOf(bias) % 4 == 0;

    /// <summary>
    /// Whether a float16 bias alone on wgmma is staged through shared memory by cp.async (<see cref="StagedHalfBiasScores"/>) rather than
    /// prefetched into registers: <paramref name="bias"/> starts on 16 bytes and its rows of <paramref name="seqLenK"/> keys
    /// are a multiple of 8 (and the group's shared memory has room for the stages, which the launch checks).
    /// </summary>
    public static bool StagesHalfBias(ArrayView<Half> bias, int seqLenK) =>
        !NoStagedBias && bias.Length >= 8 && Stageable(VectorAlignment.AddressOf(bias), seqLenK);

    /// <summary>Whether every row of Q, K, V and O starts on a 16-byte boundary, as cp.async needs.</summary>
    private static bool RowsAligned(in ForwardParams<ushort> p) =>
        p.HeadDim % 8 == 0 && VectorAlignment.RowsAligned(p.Q) && VectorAlignment.RowsAligned(p.K)
        && VectorAlignment.RowsAligned(p.V) && VectorAlignment.RowsAligned(p.O);
}
