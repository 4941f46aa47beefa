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
    private const int BarrierElements = 4; // an mbarrier is 8 bytes

    /// <summary>Shared-memory elements (ushort) of the stages and mbarriers of <paramref name="warps"/> warps.</summary>
    public static int SharedElements(int warps) => warps * Stages * (StageElements + BarrierElements);

    /// <summary>This warp's first stage and its mbarrier (stage s: + s StageElements, + s BarrierElements), as shared elements.</summary>
    private int rows, barriers;

    /// <summary>Tiles issued and tiles read so far: tile n goes to stage n mod 2, and its mbarrier phase is n / 2 mod 2.</summary>
    private int issued, read;

    /// <summary>
    /// Lays out this warp's stages from shared element <paramref name="regionStart"/> (16-byte aligned, <see cref="SharedElements"/>
    /// of <paramref name="warps"/> warps) and sets up its mbarriers (lane 0; CUDA) or poisons its stages (emulation).
    /// </summary>
    public static BiasStage Start<TTarget>(ArrayView<ushort> shared, int sharedBase, int regionStart, int warps)
        where TTarget : struct, ITensorCoreTarget
    {
        int warp = Group.IdxX >> 5;
        var stage = new BiasStage
        {
            rows = regionStart + warp * Stages * StageElements,
            barriers = regionStart + warps * Stages * StageElements + warp * Stages * BarrierElements,
        };
        if (default(TTarget).EmitsPtx)
        {
            if (Warp.LaneIdx == 0)
            {
                // One arrival per phase (lane 0's expect_tx); the copies' bytes complete it. The fence makes the
                // initialised barriers visible to the bulk copies (the async proxy).
                Ref<uint> first = (uint)(sharedBase + 2 * stage.barriers);
                Ref<uint> second = (uint)(sharedBase + 2 * (stage.barriers + BarrierElements));
                CudaAsm.EmitRef("mbarrier.init.shared::cta.b64 [%0], 1; mbarrier.init.shared::cta.b64 [%1], 1; fence.mbarrier_init.release.cluster;",
                    ref first, ref second);
            }
        }
        else
        {
            for (int i = Warp.LaneIdx; i < Stages * StageElements; i += Warp.WarpSize)
                shared[stage.rows + i] = 0x7E00; // float16 NaN
        }
        Warp.Barrier();
        return stage;
    }

    /// <summary>
    /// Starts the copy of key tile <paramref name="tile"/>'s bias rows for the warp whose first row is <paramref name="warpFirstRow"/>
    /// (<paramref name="e"/> set for the head, <see cref="ScoreBias.ForHead"/>). Rows past seqlen_q copy the last row (their
    /// results are discarded). Every lane of the warp calls it, the tiles in the order they are read, after a group barrier
    /// that follows the warp's reads of this stage's previous tile (the kernels issue tile j + 1 past tile j's barrier).
    /// </summary>
    public void Issue<TTarget>(ArrayView<ushort> shared, int sharedBase, in ScoreBias e, int warpFirstRow, int tile)
        where TTarget : struct, ITensorCoreTarget
    {
        int stage = issued & (Stages - 1);
        issued++;
        int lane = Warp.LaneIdx;
        int firstCol = tile * WgmmaForwardKernel.Bc;
        int keys = Math.Min(WgmmaForwardKernel.Bc, e.SeqLenK - firstCol);
        int row = Math.Min(warpFirstRow + (lane & (Rows - 1)), e.SeqLenQ - 1);
        long source = e.BiasBase + (long)row * e.SeqLenK + firstCol;
        int to = rows + stage * StageElements + (lane & (Rows - 1)) * RowStride;
        if (default(TTarget).EmitsPtx)
        {
            Ref<uint> barrier = (uint)(sharedBase + 2 * (barriers + stage * BarrierElements));
            if (lane == 0)
            {
                Ref<uint> expected = (uint)(Rows * keys * 2);
                CudaAsm.EmitRef("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;", ref barrier, ref expected);
            }
            if (lane < Rows)
            {
                Ref<uint> target = (uint)(sharedBase + 2 * to);
                Ref<ulong> address = e.BiasAddress + (ulong)(source * 2);
                Ref<uint> bytes = (uint)(keys * 2);
                CudaAsm.EmitRef(
                    "{ .reg .u64 g; cvta.to.global.u64 g, %1; cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [g], %2, [%3]; }",
                    ref target, ref address, ref bytes, ref barrier);
            }
            return;
        }
        if (lane < Rows)
        {
            var halves = e.Bias.Cast<ushort>();
            for (int i = 0; i < keys; i++)
                shared[to + i] = halves[source + i];
        }
    }

    /// <summary>
    /// Waits for the oldest issued tile's rows and reads this lane's pairs of its 64 keys in the layout of
    /// <see cref="BiasFragment"/> (rows g and g + 8, columns 8n + 2q and + 1), for <see cref="BiasFragment.AddHalfBias"/>.
    /// </summary>
    public BiasFragment Read<TTarget>(ArrayView<ushort> shared, int sharedBase)
        where TTarget : struct, ITensorCoreTarget
    {
        int stage = read & (Stages - 1);
        uint phase = (uint)(read / Stages) & 1u;
        read++;
        if (default(TTarget).EmitsPtx)
        {
            uint barrier = (uint)(sharedBase + 2 * (barriers + stage * BarrierElements));
            while (!Landed(barrier, phase))
            {
            }
        }
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

    /// <summary>Whether the phase of parity <paramref name="phase"/> of the mbarrier at <paramref name="barrier"/> has completed (it waits a while first).</summary>
    private static bool Landed(uint barrier, uint phase)
    {
        Ref<uint> done = 0u;
        Ref<uint> at = barrier;
        Ref<uint> parity = phase;
        CudaAsm.EmitRef("{ .reg .pred p; mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2; selp.u32 %0, 1, 0, p; }", ref done, ref at, ref parity);
        return done.Value != 0;
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
