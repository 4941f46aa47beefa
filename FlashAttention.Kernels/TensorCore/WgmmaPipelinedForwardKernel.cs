using FlashAttention.Kernels.Numerics;
using FlashAttention.Kernels.Portable;

namespace FlashAttention.Kernels.TensorCore;

/// <summary>
/// The wgmma forward with FlashAttention-3's intra-warpgroup pipelining: while a warpgroup's CUDA cores
/// run the softmax of key tile j, its tensor cores multiply P V of tile j - 1. Each tile issues
/// S_j = Q K_j^T and then O += P_{j-1} V_{j-1} as two groups; waiting until one group is left pending
/// releases S_j alone (<see cref="WgmmaPipeline"/>), whose softmax gives P_j and the rescale factor;
/// waiting for all then lets O be rescaled. In <see cref="WgmmaForwardKernel"/> every product waits
/// for itself and only the other warpgroups on the SM overlap it.
/// V lags K by a tile: at the top of tile j's iteration K_{j+1} and V_j start loading, into the
/// stage halves that K_{j-1} (its S read last iteration) and V_{j-2} (its product waited for last
/// iteration) have left; the barrier there publishes K_j and V_{j-1}. The same shared memory as the
/// unpipelined kernel, and P_{j-1}'s 16 registers a thread live through the softmax. Each tile issues
/// both products, the first a P of zeros times a zeroed V, so no wgmma sits under a branch.
/// Grid, group and shared memory as <see cref="WgmmaForwardKernel"/>.
/// </summary>
public static class WgmmaPipelinedForwardKernel
{
    private const int Bc = WgmmaForwardKernel.Bc;

    /// <summary>The kernel body (see the class summary).</summary>
    public static void Run<TTarget, TElement, TDim, TWarps, TScores>(ForwardParams<ushort> p)
        where TTarget : struct, ITensorCoreTarget
        where TElement : struct, IMmaElement
        where TDim : struct, IConstant
        where TWarps : struct, IConstant
        where TScores : struct, IScoreMode
    {
        WgmmaOutput.Declare<TTarget>();
        WgmmaPipeline.Declare<TTarget>();
        int dim = default(TDim).Value;
        var g = WgmmaGroup.Locate<TTarget, TWarps, TScores>(ref p, dim);
        if (g.Block.Rows <= 0)
            return;
        g.Start<TTarget, TWarps, TScores>(p, dim);
        var block = g.Block;
        bool tensors = default(TScores).Tensors; // the bias and mask terms BeginTile loaded are passed to the softmax
        bool bitMask = default(TScores).BitMask;
        if (block.EndTile > block.FirstTile)
            g.LoadKeys<TTarget>(p, block.FirstTile, dim, g.StageBase);
        bool staged = default(TScores).StagedBias;
        var bias = g.StartBias<TTarget, TWarps, TScores>(dim);
        bool stagedMask = default(TScores).StagedMask;
        var maskStage = g.StartMask<TTarget, TScores>(dim);
        CpAsync.Commit<TTarget>();
        // The first tile multiplies a P of zeros by the second stage's V, zeroed here (uninitialized shared memory may hold NaN):
        // every tile then issues both products, with no wgmma under a branch (which cost the unpipelined kernel 8-10 %).
        int previousValues = g.StageBase + 3 * Bc * dim;
        for (int i = Group.IdxX; i < Bc * dim; i += 32 * default(TWarps).Value)
            g.Shared[previousValues + i] = 0;

        var softmax = FragmentSoftmax.Start();
        var o = WgmmaOutput.Start<TTarget>(dim);
        int stage = g.StageBase;
        long blockRow = bitMask ? p.Blocks.RowStart(block.Batch, block.Head, block.FirstRow) : 0;
        bool peek = bitMask && p.Blocks.MayHide(blockRow);
        Tile8 pending = default;                  // S in flight (the emulation's copy; on CUDA in flashS)
        ProbabilityFragments previous = default;  // P of the last tile (at first zeros), whose P V is still to multiply; its V at previousValues
        for (int j = block.FirstTile; j < block.EndTile;)
        {
            int firstCol = j * Bc;
            // Past its barrier K_j and V_{j-1} have landed; every warp is done with K_{j-1} and V_{j-2}.
            int nextTile = g.BeginTile<TTarget, TScores>(p, j, blockRow, peek, out var terms, out var keep);
            int nextStage = stage == g.StageBase ? g.StageBase + 2 * Bc * dim : g.StageBase;
            if (nextTile < block.EndTile)
                g.LoadKeys<TTarget>(p, nextTile, dim, nextStage);
            g.LoadValues<TTarget>(p, j, dim, stage + Bc * dim);
            if (staged && nextTile < block.EndTile)
                bias.Issue<TTarget>(g.Shared, g.SharedBase, g.Scores.Elements, g.WarpFirstRow, nextTile);
            if (stagedMask)
            {
                keep = maskStage.Read(g.Shared); // tile j's words, landed with K_j
                if (nextTile < block.EndTile)
                    maskStage.Issue<TTarget>(g.Shared, g.SharedBase, g.Bits, nextTile);
            }
            CpAsync.Commit<TTarget>();

            WgmmaPipeline.Issue<TTarget, TElement>(ref pending, g.Shared, g.SharedBase, g.QBlock, stage, dim);
            o.Issue<TTarget, TElement>(previous, g.Shared, g.SharedBase, previousValues, dim, g.Exchange);
            if (staged)
                terms = bias.Read<TTarget>(g.Shared, g.Exchange); // its shared loads overlap the products
            var s = WgmmaPipeline.Read<TTarget>(pending);
            bool applyMask = !p.Mask.AllVisible(g.WarpFirstRow, g.WarpFirstRow + 15, firstCol, firstCol + Bc - 1);
            var (alphaLow, alphaHigh) = softmax.Update<TTarget, TScores>(ref s, p.Mask, g.Scores, tensors, terms, p.ScaleLog2, p.RawBiasUnit, g.RowLow, firstCol,
                applyMask, Bc, g.Dropout, keep, seeded: false); // the product overwrites S (see WgmmaPipeline)
            previous = ProbabilityFragments.From<TTarget, TElement>(s, Bc);
            WgmmaOutput.WaitAll<TTarget>(); // P_{j-1} V_{j-1} is in O
            if (!WarpVote.All<TTarget>(alphaLow == 1f && alphaHigh == 1f))
                o.Rescale<TTarget>(alphaLow, alphaHigh, dim);
            previousValues = stage + Bc * dim;
            stage = nextStage;
            j = nextTile;
        }
        CpAsync.WaitAll<TTarget>(); // the last tile's V (or Q alone when no key tile is visible: then P is zeros, V the zeroed stage)
        Wgmma.FenceSharedWrites<TTarget>();
        Group.Barrier();
        o.Accumulate<TTarget, TElement>(previous, g.Shared, g.SharedBase, previousValues, dim, g.Exchange);

        o.ReadOut<TTarget>(dim);
        TensorCoreForwardKernel.Finish<TTarget, TElement>(p, block.Batch, block.Head, g.RowLow, softmax, o.O0, o.O1, o.O2, o.O3, dim);
    }
}
