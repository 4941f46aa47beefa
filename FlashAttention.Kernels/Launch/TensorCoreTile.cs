using FlashAttention.Kernels.TensorCore;

namespace FlashAttention;

/// <summary>
/// The tile shape of the tensor-core forward kernel: <paramref name="Warps"/> warps per group, each
/// owning <paramref name="WarpRows"/> query rows (Br = WarpRows x Warps), and <paramref name="Bc"/> keys per step.
/// Head dims compile in steps of 32 up to 256, like the portable kernel's.
/// </summary>
/// <param name="Warps">Warps per group: 4 or 8; 12 (three warpgroups, Br = 192) for wgmma tiles.</param>
/// <param name="GroupsPerSM">
/// Groups each SM should hold at once, passed to ptxas as launch bounds so it keeps registers within
/// 65536 / (groups x threads); 0 leaves the register count to ptxas.
/// </param>
/// <param name="WarpRows">
/// Query rows per warp: 16 (one m16 block) or 32 (two blocks that share every K and V fragment the
/// warp loads from shared memory, as FlashAttention-2 does: half the ldmatrix per mma.sync, twice
/// the accumulator registers).
/// </param>
/// <param name="Bc">Keys per tile: 64, or 32 (half the score registers, twice the steps).</param>
/// <param name="Wgmma">
/// Multiply with Hopper's warpgroup products (wgmma, compute capability 9.0 only; emulated on the
/// CPU accelerator) instead of mma.sync: each 4 warps form a warpgroup of 64 rows. Needs 16-row warps
/// and 64-key tiles; the head dim is padded to a multiple of 64.
/// </param>
/// <param name="Pipelined">
/// With <paramref name="Wgmma"/>: FlashAttention-3's intra-warpgroup pipelining (<see cref="WgmmaPipelinedForwardKernel"/>),
/// the softmax of each key tile running while the tensor cores multiply the previous tile's P V. Needs 16 more registers a thread.
/// </param>
public sealed record TensorCoreTile(int Warps, int GroupsPerSM = 0, int WarpRows = 16, int Bc = 64, bool Wgmma = false, bool Pipelined = false)
{
    /// <summary>Warp counts with a compiled kernel.</summary>
    public static IReadOnlyList<int> SupportedWarps { get; } = [4, 8];

    /// <summary>Warp counts of wgmma tiles: also 12, three warpgroups sharing each K/V tile (192 query rows).</summary>
    public static IReadOnlyList<int> SupportedWgmmaWarps { get; } = [4, 8, 12];

    /// <summary>Rows per warp with a compiled kernel.</summary>
    public static IReadOnlyList<int> SupportedWarpRows { get; } = [16, 32];

    /// <summary>Keys per tile with a compiled kernel.</summary>
    public static IReadOnlyList<int> SupportedBc { get; } = [32, 64];

    /// <summary>Query rows per group.</summary>
    public int Br => WarpRows * Warps;

    /// <summary>Threads per group.</summary>
    public int Threads => 32 * Warps;

    /// <summary>The head dim the kernel is compiled for: a multiple of 32, or of 64 for wgmma (its tiles are 64-dim blocks).</summary>
    public int CompiledDim(int headDim) => Wgmma ? (headDim + 63) / 64 * 64 : TileConfig.PadHeadDim(headDim);

    /// <summary>
    /// Dynamic shared memory one group needs at <paramref name="headDim"/>; with <paramref name="stagedBias"/> (wgmma) also the
    /// stages of a float16 bias staged through shared memory by cp.async (<see cref="StagedHalfBiasScores"/>), with
    /// <paramref name="stagedMask"/> those of a packed mask's words (<see cref="StagedBitMaskScores"/>).
    /// </summary>
    public int SharedMemoryBytes(int headDim, bool stagedBias = false, bool stagedMask = false) =>
        (Wgmma ? WgmmaForwardKernel.SharedElements(CompiledDim(headDim), Br, stagedBias ? Warps : 0, stagedMask ? Warps : 0)
            : TensorCoreForwardKernel.SharedElements(CompiledDim(headDim), Br, Bc)) * sizeof(ushort);

    /// <summary>
    /// Whether two groups fit in one SM's shared memory at <paramref name="headDim"/>, on a device whose per-group
    /// limit is <paramref name="sharedMemoryLimitBytes"/> (the SM holds that limit plus the 1 KB it reserves per group).
    /// </summary>
    public bool TwoGroupsFit(int headDim, int sharedMemoryLimitBytes) =>
        2 * (SharedMemoryBytes(headDim) + 1024) <= sharedMemoryLimitBytes + 1024;

    /// <summary>
    /// The preferred tile for <paramref name="headDim"/>, mask (<paramref name="causal"/>) and whether the
    /// call reads bias or mask tensors (<paramref name="scoreTensors"/>) or draws dropout (<paramref name="dropout"/>)
    /// that fits <paramref name="sharedMemoryLimitBytes"/>; on a device with Hopper's wgmma (<paramref name="wgmma"/>) a wgmma tile.
    /// <paramref name="biasAlone"/>: a float32 bias is all the call puts on the scores (no mask tensor or block mask, soft cap,
    /// ALiBi or dropout) and seqlen_k is even, so the launcher runs its bias-only score mode; <paramref name="halfBias"/>: that bias
    /// is float16 and read as it is (<see cref="Kernels.Launch.TensorCoreForwardLauncher.ReadsHalfBias"/>).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">No tile fits.</exception>
    public static TensorCoreTile Choose(int headDim, int sharedMemoryLimitBytes, bool causal = false, bool scoreTensors = false, bool wgmma = false, bool dropout = false,
        bool biasAlone = false, bool halfBias = false)
    {
        // A bias alone at d 128 on Hopper: its prefetched bias needs ~150-170 registers a thread, so one group fills the SM's
        // register file; three warpgroups per group (384 threads, bounded to 168 registers: ptxas used 150 and spilled
        // nothing) keep 12 warps per SM busy instead of 8. H100, fp16, 2 x 8K, bias [1, 16, N, N], one call
        // (docs/PERFORMANCE.md, session 10): 4.04 ms against 4.81 (causal 2.22 against 2.46). At d 64, where two 8-warp groups
        // already fit, 12 warps were slower (6.62 against 6.04 ms); d 192 and 256 were not timed (and 256 does not fit).
        // Pipelined (FlashAttention-3's overlap of each tile's softmax with the previous tile's P V; 161-168 registers, no spills),
        // H100, two rounds in one call (session 13, s13b): float16 bias 3.73-3.74 ms against 3.86-3.89 (causal 2.02 against
        // 2.11-2.13), float32 3.89-4.07 against 4.05-4.37 (causal 2.12-2.14 against 2.21-2.22). Plain and masked calls ran it slower.
        if (wgmma && biasAlone && (headDim + 63) / 64 * 64 == 128
            && new TensorCoreTile(12, GroupsPerSM: 1, Wgmma: true, Pipelined: true) is var three && three.SharedMemoryBytes(headDim) <= sharedMemoryLimitBytes)
            return three;
        // Measured on the H100 in one call (docs/PERFORMANCE.md, 2026-11-25, fp16 d 128, N 8K): two warpgroups per
        // group (128 rows sharing each K/V tile) with launch bounds for two groups per SM (at most 128 registers:
        // four warpgroups per SM) ran at 437 TFLOPs, against 319 without the bounds (142 registers, one group per SM)
        // and 301 for one warpgroup per group. The bounds apply where two groups fit in an SM's shared memory.
        // Bias and mask tensors and dropout need registers of their own: under those bounds their kernels spill
        // (380 bytes at d 128) and, d 128, N 8K, in one call, a bias took 11.0 ms bounded and 7.97 ms without
        // bounds (8.93 ms on mma.sync); dropout 13.2 and 12.9 ms. They run without the bounds.
        // Dropout's Philox draws are integer work that wants more warps in flight than one unbounded wgmma group
        // per SM gives: mma.sync's 32-row warps ran it faster, N 8K: d 128 9.83 ms against 12.70, causal 5.10
        // against 6.43; d 64 causal 8.14 against 11.78 (16-row mma.sync warps 7.07 and 9.98).
        // A float16 bias alone (read as it is) fits the bounds at d 64 (119 registers, no spills) and ran 1.4-1.6 % faster bounded on
        // the H100 (s13b, two rounds: 5.10-5.16 ms against 5.19-5.24, causal 2.73 against 2.77) and 2-3 % on the H200 (session 12).
        bool dropoutOnMma = wgmma && dropout && !scoreTensors && TileConfig.PadHeadDim(headDim) <= 128; // with a bias too: wgmma, not timed against mma.sync
        bool bounded = (!scoreTensors && !dropout) || (biasAlone && halfBias);
        if (wgmma && !dropoutOnMma && new TensorCoreTile(8, Wgmma: true) is var hopper && hopper.SharedMemoryBytes(headDim) <= sharedMemoryLimitBytes)
            return bounded && hopper.TwoGroupsFit(headDim, sharedMemoryLimitBytes) ? hopper with { GroupsPerSM = 2 } : hopper;
        int dim = TileConfig.PadHeadDim(headDim);
        // Measured on the H100 in one call with torch (docs/PERFORMANCE.md, fp16 and bf16, N 2K-8K,
        // 2026-11-24): without a mask, 4 warps of 32 rows (two row blocks sharing every K/V fragment)
        // beat 16-row warps by 3-8 %: 64-key tiles at d 64 (218 registers), 32-key tiles at d 96-128
        // (234 registers; 64-key tiles there spill at the 255-register cap, so they stay opt-in).
        // Under a causal mask 16-row warps are as fast or faster (up to 10 % at N 2K: 128-row blocks
        // leave more masked work on the diagonal), and past d 128 32 rows do not fit in registers.
        // With bias or mask tensors 16-row warps are 1.3-1.4x faster (d 128, N 8K: bias 17.4 vs 24.2 ms,
        // mask 13.9 vs 17.6 ms): the element loads in the softmax need the registers.
        TensorCoreTile[] candidates = (causal && !dropoutOnMma) || scoreTensors || dim > 128 ? [new(4)]
            : dim <= 64 ? [new(4, WarpRows: 32), new(4)]
            : [new(4, WarpRows: 32, Bc: 32), new(4)];
        foreach (var tile in candidates)
        {
            if (tile.SharedMemoryBytes(headDim) <= sharedMemoryLimitBytes)
                return tile;
        }
        throw new ArgumentOutOfRangeException(nameof(sharedMemoryLimitBytes), sharedMemoryLimitBytes,
            $"no tensor-core tile for head dim {headDim} fits in {sharedMemoryLimitBytes} bytes of shared memory per group");
    }

    /// <summary>Checks the tile against the kernel's rules and the device's limits.</summary>
    /// <exception cref="ArgumentException">Naming the field, its value and what is expected.</exception>
    public void Validate(int headDim, int sharedMemoryLimitBytes, string paramName)
    {
        var warps = Wgmma ? SupportedWgmmaWarps : SupportedWarps;
        if (!warps.Contains(Warps))
            throw new ArgumentException(
                $"tensor-core tile Warps is {Warps}; expected one of {string.Join(", ", warps)}{(Wgmma ? "" : " (12 only with Wgmma)")}", paramName);
        if (!SupportedWarpRows.Contains(WarpRows))
            throw new ArgumentException($"tensor-core tile WarpRows is {WarpRows}; expected one of {string.Join(", ", SupportedWarpRows)}", paramName);
        if (!SupportedBc.Contains(Bc))
            throw new ArgumentException($"tensor-core tile Bc is {Bc}; expected one of {string.Join(", ", SupportedBc)}", paramName);
        if (Wgmma && (WarpRows != 16 || Bc != 64))
            throw new ArgumentException(
                $"tensor-core tile Wgmma needs WarpRows=16 and Bc=64 (one m64n64 product per warpgroup); got WarpRows={WarpRows} Bc={Bc}", paramName);
        if (Pipelined && !Wgmma)
            throw new ArgumentException("tensor-core tile Pipelined needs Wgmma (it overlaps Hopper's asynchronous warpgroup products)", paramName);
        if (GroupsPerSM < 0 || GroupsPerSM * Threads > 2048)
            throw new ArgumentException(
                $"tensor-core tile GroupsPerSM is {GroupsPerSM}; expected 0 (no bound) to {2048 / Threads} ({Threads} threads per group, 2048 per SM)", paramName);
        int bytes = SharedMemoryBytes(headDim);
        if (bytes > sharedMemoryLimitBytes)
            throw new ArgumentException(
                $"tensor-core tile Warps={Warps} WarpRows={WarpRows} Bc={Bc} needs {bytes} bytes of shared memory at head dim {headDim}; " +
                $"expected at most {sharedMemoryLimitBytes} (the device's limit per group)", paramName);
    }
}
