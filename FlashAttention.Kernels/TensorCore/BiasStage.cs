using FlashAttention.Kernels.Portable;

namespace FlashAttention.Kernels.TensorCore;

/// <summary>
/// A float16 bias staged through shared memory by cp.async, for the wgmma kernels' bias-only mode
/// (<see cref="StagedHalfBiasScores"/>). Each warp stages its own 16 rows: at the top of tile j its lanes issue 16-byte
/// copies of tile j + 1's rows (four a lane) in the same commit group as that tile's K/V, so they land during tile j's
/// work and the wait and barrier the kernel already has for tile j + 1 publish them; the softmax then reads its
/// fragment's pairs from shared memory with ldmatrix. The register prefetch (<see cref="BiasFragment.Load"/>) has the bias in flight
/// only from the top of its own tile and spends an address computation per pair.
/// Rows sit 144 bytes apart, so the 8 rows one fragment read touches fall in 8 distinct groups of 4 banks.
/// Keys past seqlen_k are zero-filled (the key mask hides them anyway). Hopper's bulk copies (cp.async.bulk, one
/// 128-byte row an instruction, completing on a per-warp mbarrier) were tried first and ran slower than the register
/// prefetch on the H100 (docs/PERFORMANCE.md, session 16).
/// Needs seqlen_k a multiple of 8 and the bias 16-byte aligned (each copy moves 16 aligned bytes).
/// The softmax adds the fragments with a conversion and an FFMA per score. Adding them on the tensor cores instead (S = B
/// diag(1/scale) + Q K^T, the fragments as the A operand of eight m64n16k16 a tile, issued before Q K^T) measured slower on
/// the H100: 1.51x the plain call at d 128 against 1.36x, and at d 64 ptxas serialized every wgmma for want of registers
/// (docs/PERFORMANCE.md, session 17).
/// </summary>
internal struct BiasStage
{
    /// <summary>Tiles in flight per warp: the next tile's copy runs during the current tile's work.</summary>
    public const int Stages = 2;

    /// <summary>Elements (float16) between rows: 64 keys and 8 of padding.</summary>
    public const int RowStride = 72;

    private const int Rows = 16; // one warp's rows of a wgmma accumulator
    private const int StageElements = Rows * RowStride;

    /// <summary>Shared-memory elements (ushort) of the stages of <paramref name="warps"/> warps.</summary>
    public static int SharedElements(int warps) => warps * Stages * StageElements;

    /// <summary>This warp's first stage (stage s at + s StageElements), as a shared element.</summary>
    private int rows;

    /// <summary>
    /// Where this lane's first chunk of the first key tile starts (row warpFirstRow + lane / 8, key 8 (lane mod 8)): a byte
    /// address on CUDA, an element index of the bias in the emulation. Rows past seqlen_q point at this lane's row and key
    /// anyway; their copies are zero-filled and never read from memory.
    /// </summary>
    private long source;

    /// <summary>Tiles issued and tiles read so far: tile n goes to stage n mod 2.</summary>
    private int issued, read;

    /// <summary>Whether all 16 of the warp's rows lie inside seqlen_q (every query block but the last): then full key tiles copy unchecked.</summary>
    private bool fullRows;

    /// <summary>
    /// Lays out this warp's stages from shared element <paramref name="regionStart"/> (16-byte aligned, <see cref="SharedElements"/>)
    /// and the addresses of its rows, <paramref name="warpFirstRow"/> onwards, in <paramref name="e"/> (set for the head, <see cref="ScoreBias.ForHead"/>).
    /// </summary>
    public static BiasStage Start<TTarget>(int regionStart, in ScoreBias e, int warpFirstRow)
        where TTarget : struct, ITensorCoreTarget
    {
        int lane = Warp.LaneIdx;
        long element = e.BiasBase + (long)Math.Min(warpFirstRow + (lane >> 3), e.SeqLenQ - 1) * e.SeqLenK + 8 * (lane & 7);
        return new BiasStage
        {
            rows = regionStart + (Group.IdxX >> 5) * Stages * StageElements,
            source = default(TTarget).EmitsPtx ? (long)e.BiasAddress + 2 * element : element,
            fullRows = warpFirstRow + Rows <= e.SeqLenQ,
        };
    }

    /// <summary>
    /// Issues the copy of key tile <paramref name="tile"/>'s bias rows for the warp whose first row is <paramref name="warpFirstRow"/>
    /// into the commit group of that tile's K/V, which the kernel waits for before the tile's barrier. Lane l copies 16 bytes
    /// (keys 8 (l mod 8) onwards) of rows l / 8, + 4, + 8 and + 12; keys past seqlen_k and rows past seqlen_q are zero-filled (the
    /// key mask hides the first, the second are discarded). Every lane of the warp calls it, the tiles in the order they are read,
    /// after a group barrier that follows the warp's reads of this stage's previous tile (the kernels issue tile j + 1 past tile
    /// j's barrier).
    /// </summary>
    public void Issue<TTarget>(ArrayView<ushort> shared, int sharedBase, in ScoreBias e, int warpFirstRow, int tile)
        where TTarget : struct, ITensorCoreTarget
    {
        int stage = issued & (Stages - 1);
        issued++;
        int lane = Warp.LaneIdx;
        int firstCol = tile * WgmmaForwardKernel.Bc;
        int unit = default(TTarget).EmitsPtx ? 2 : 1; // bytes or elements per key
        long at = source + (long)firstCol * unit;
        long step = 4L * e.SeqLenK * unit;
        int to = rows + stage * StageElements + (lane >> 3) * RowStride + 8 * (lane & 7);
        if (fullRows && firstCol + WgmmaForwardKernel.Bc <= e.SeqLenK)
        {
            // Every copy is valid: no per-copy tests or selects (1.9 % fewer instructions at d 64, session 17).
            Chunk<TTarget>(shared, sharedBase, e, at, to, true);
            Chunk<TTarget>(shared, sharedBase, e, at + step, to + 4 * RowStride, true);
            Chunk<TTarget>(shared, sharedBase, e, at + 2 * step, to + 8 * RowStride, true);
            Chunk<TTarget>(shared, sharedBase, e, at + 3 * step, to + 12 * RowStride, true);
            return;
        }
        int row = warpFirstRow + (lane >> 3);
        bool keys = firstCol + 8 * (lane & 7) < e.SeqLenK;
        Chunk<TTarget>(shared, sharedBase, e, at, to, keys && row < e.SeqLenQ);
        Chunk<TTarget>(shared, sharedBase, e, at + step, to + 4 * RowStride, keys && row + 4 < e.SeqLenQ);
        Chunk<TTarget>(shared, sharedBase, e, at + 2 * step, to + 8 * RowStride, keys && row + 8 < e.SeqLenQ);
        Chunk<TTarget>(shared, sharedBase, e, at + 3 * step, to + 12 * RowStride, keys && row + 12 < e.SeqLenQ);
    }

    /// <summary>16 bytes from <paramref name="from"/> (see <see cref="source"/>) to shared element <paramref name="to"/>, or zeros when not <paramref name="valid"/>.</summary>
    private readonly void Chunk<TTarget>(ArrayView<ushort> shared, int sharedBase, in ScoreBias e, long from, int to, bool valid)
        where TTarget : struct, ITensorCoreTarget
    {
        if (default(TTarget).EmitsPtx)
        {
            // A zero-filled copy reads nothing, but its address stays one inside the tensor.
            CpAsync.Copy16Raw((uint)(sharedBase + 2 * to), (ulong)(valid ? from : source), valid);
            return;
        }
        var halves = e.Bias.Cast<ushort>();
        for (int i = 0; i < 8; i++)
            shared[to + i] = valid ? halves[from + i] : (ushort)0;
    }

    /// <summary>
    /// Reads this lane's pairs of the oldest issued tile's 64 keys (landed: the kernel has waited for the tile's copies and
    /// passed its barrier) in the layout of <see cref="BiasFragment"/> (rows g and g + 8, columns 8n + 2q and + 1), for
    /// <see cref="BiasFragment.AddHalfBias"/>. That is an accumulator's fragment layout, which ldmatrix produces: each x4 load
    /// reads the 16 rows of 16 keys, its four 8 x 8 matrices being rows 0-7 and 8-15 of keys 0-7, then of keys 8-15.
    /// </summary>
    public BiasFragment Read<TTarget>(ArrayView<ushort> shared, in WarpExchange exchange)
        where TTarget : struct, ITensorCoreTarget
    {
        int stage = read & (Stages - 1);
        read++;
        int lane = Warp.LaneIdx;
        // Lanes 8 m .. 8 m + 7 give the rows of matrix m: rows (lane mod 16), keys 8 (lane / 16) onwards.
        int at = rows + stage * StageElements + (lane & 15) * RowStride + 8 * (lane >> 4);
        var keys0 = Ldmatrix.X4<TTarget>(shared, at, false, exchange);
        var keys16 = Ldmatrix.X4<TTarget>(shared, at + 16, false, exchange);
        var keys32 = Ldmatrix.X4<TTarget>(shared, at + 32, false, exchange);
        var keys48 = Ldmatrix.X4<TTarget>(shared, at + 48, false, exchange);
        return new BiasFragment
        {
            N0 = new BiasTerms { HalfLow = keys0.R0, HalfHigh = keys0.R1 },
            N1 = new BiasTerms { HalfLow = keys0.R2, HalfHigh = keys0.R3 },
            N2 = new BiasTerms { HalfLow = keys16.R0, HalfHigh = keys16.R1 },
            N3 = new BiasTerms { HalfLow = keys16.R2, HalfHigh = keys16.R3 },
            N4 = new BiasTerms { HalfLow = keys32.R0, HalfHigh = keys32.R1 },
            N5 = new BiasTerms { HalfLow = keys32.R2, HalfHigh = keys32.R3 },
            N6 = new BiasTerms { HalfLow = keys48.R0, HalfHigh = keys48.R1 },
            N7 = new BiasTerms { HalfLow = keys48.R2, HalfHigh = keys48.R3 },
        };
    }
}
