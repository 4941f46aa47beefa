using FlashAttention.Kernels.Portable;
using ILGPU.Runtime.Cuda;

namespace FlashAttention.Kernels.TensorCore;

/// <summary>
/// A float16 bias staged through shared memory by Hopper's bulk copies (<c>cp.async.bulk</c>, sm_90), for the wgmma
/// kernels' bias-only mode (<see cref="StagedHalfBiasScores"/>). Each warp stages its own 16 rows: lanes 0-15 each
/// copy one row's keys of a tile (128 bytes) with one instruction, and the copies complete on the warp's mbarrier
/// while the warp computes the tile before; the softmax then reads its fragment's pairs from shared memory.
/// The register prefetch (<see cref="BiasFragment.Load"/>) has the bias in flight only from the top of its own tile,
/// holds it in registers meanwhile and spends an address computation per pair; here no register holds the bias
/// before it is read and no thread waits on a global load. No group barrier is involved: a warp waits on its own
/// mbarrier for rows only it reads.
/// Rows sit 144 bytes apart, so the 8 rows one fragment read touches fall in 8 distinct groups of 4 banks.
/// Keys past seqlen_k are not copied (the bytes of a copy must be what lies in the row); what the stage holds there is
/// stale and the key mask replaces those scores by -inf with a select. The emulation copies at once and fills its
/// stages with NaN first, so the CPU tests see such stale elements as the GPU may.
/// Needs seqlen_k a multiple of 8 and the bias 16-byte aligned (bulk copies move multiples of 16 aligned bytes).
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

    /// <summary>Tiles issued and tiles read so far: tile n goes to stage n mod 2.</summary>
    private int issued, read;

    /// <summary>Lays out this warp's stages from shared element <paramref name="regionStart"/> (16-byte aligned, <see cref="SharedElements"/>).</summary>
    public static BiasStage Start(int regionStart) =>
        new() { rows = regionStart + (Group.IdxX >> 5) * Stages * StageElements };

    /// <summary>
    /// Issues the copy of key tile <paramref name="tile"/>'s bias rows for the warp whose first row is <paramref name="warpFirstRow"/>
    /// (<paramref name="e"/> set for the head, <see cref="ScoreBias.ForHead"/>) into the commit group of that tile's K/V, which the
    /// kernel waits for before the tile's barrier. Keys past seqlen_k are zero-filled; rows past seqlen_q copy the last row (their
    /// results are discarded). Every lane of the warp calls it, the tiles in the order they are read, after a group barrier
    /// that follows the warp's reads of this stage's previous tile (the kernels issue tile j + 1 past tile j's barrier).
    /// </summary>
    public void Issue<TTarget>(ArrayView<ushort> shared, int sharedBase, in ScoreBias e, int warpFirstRow, int tile)
        where TTarget : struct, ITensorCoreTarget
    {
        int stage = issued & (Stages - 1);
        issued++;
        int firstCol = tile * WgmmaForwardKernel.Bc;
        int to = rows + stage * StageElements;
        // 16 rows of 8 chunks of 16 bytes: lane l copies chunk l & 7 of rows l / 8, + 4, + 8, + 12.
        int lane = Warp.LaneIdx;
        int part = 8 * (lane & 7);
        bool valid = firstCol + part < e.SeqLenK;
        int col = valid ? firstCol + part : 0;
        Chunk<TTarget>(shared, sharedBase, e, Math.Min(warpFirstRow + (lane >> 3), e.SeqLenQ - 1), col, valid, to + (lane >> 3) * RowStride + part);
        Chunk<TTarget>(shared, sharedBase, e, Math.Min(warpFirstRow + (lane >> 3) + 4, e.SeqLenQ - 1), col, valid, to + ((lane >> 3) + 4) * RowStride + part);
        Chunk<TTarget>(shared, sharedBase, e, Math.Min(warpFirstRow + (lane >> 3) + 8, e.SeqLenQ - 1), col, valid, to + ((lane >> 3) + 8) * RowStride + part);
        Chunk<TTarget>(shared, sharedBase, e, Math.Min(warpFirstRow + (lane >> 3) + 12, e.SeqLenQ - 1), col, valid, to + ((lane >> 3) + 12) * RowStride + part);
    }

    /// <summary>8 elements of row <paramref name="row"/> from column <paramref name="col"/> to shared element <paramref name="at"/> (zeros when not <paramref name="valid"/>).</summary>
    private static void Chunk<TTarget>(ArrayView<ushort> shared, int sharedBase, in ScoreBias e, int row, int col, bool valid, int at)
        where TTarget : struct, ITensorCoreTarget
    {
        long source = e.BiasBase + (long)row * e.SeqLenK + col;
        if (default(TTarget).EmitsPtx)
        {
            CpAsync.Copy16Raw((uint)(sharedBase + 2 * at), e.BiasAddress + (ulong)(source * 2), valid);
            return;
        }
        var halves = e.Bias.Cast<ushort>();
        for (int i = 0; i < 8; i++)
            shared[at + i] = valid ? halves[source + i] : (ushort)0;
    }

    /// <summary>
    /// Reads this lane's pairs of the oldest issued tile's 64 keys (landed: the kernel has waited for the tile's copies and
    /// passed its barrier) in the layout of <see cref="BiasFragment"/> (rows g and g + 8, columns 8n + 2q and + 1), for
    /// <see cref="BiasFragment.AddHalfBias"/>.
    /// </summary>
    public BiasFragment Read<TTarget>(ArrayView<ushort> shared, int sharedBase)
        where TTarget : struct, ITensorCoreTarget
    {
        int stage = read & (Stages - 1);
        read++;
        int lane = Warp.LaneIdx;
        int low = rows + stage * StageElements + (lane >> 2) * RowStride + 2 * (lane & 3);
        int high = low + 8 * RowStride;
        return new BiasFragment
        {
            N0 = Pairs<TTarget>(shared, sharedBase, low, high),
            N1 = Pairs<TTarget>(shared, sharedBase, low + 8, high + 8),
            N2 = Pairs<TTarget>(shared, sharedBase, low + 16, high + 16),
            N3 = Pairs<TTarget>(shared, sharedBase, low + 24, high + 24),
            N4 = Pairs<TTarget>(shared, sharedBase, low + 32, high + 32),
            N5 = Pairs<TTarget>(shared, sharedBase, low + 40, high + 40),
            N6 = Pairs<TTarget>(shared, sharedBase, low + 48, high + 48),
            N7 = Pairs<TTarget>(shared, sharedBase, low + 56, high + 56),
        };
    }

    private static BiasTerms Pairs<TTarget>(ArrayView<ushort> shared, int sharedBase, int low, int high)
        where TTarget : struct, ITensorCoreTarget =>
        new() { HalfLow = Word<TTarget>(shared, sharedBase, low), HalfHigh = Word<TTarget>(shared, sharedBase, high) };

    /// <summary>Elements <paramref name="at"/> and + 1 as one word (the first in the low half): an ld.shared the compilers keep after the wait.</summary>
    private static uint Word<TTarget>(ArrayView<ushort> shared, int sharedBase, int at)
        where TTarget : struct, ITensorCoreTarget
    {
        if (default(TTarget).EmitsPtx)
        {
            Ref<uint> word = 0u;
            Ref<uint> address = (uint)(sharedBase + 2 * at);
            CudaAsm.EmitRef("ld.shared.u32 %0, [%1];", ref word, ref address);
            return word.Value;
        }
        return shared[at] | ((uint)shared[at + 1] << 16);
    }
}
