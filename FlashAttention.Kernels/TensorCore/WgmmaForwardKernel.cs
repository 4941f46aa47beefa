using FlashAttention.Kernels.Numerics;
using FlashAttention.Kernels.Portable;

namespace FlashAttention.Kernels.TensorCore;

/// <summary>
/// The tensor-core forward on Hopper (sm_90a): FlashAttention-2's design with the matrix products as
/// wgmma. Each 4 warps form a warpgroup that owns 64 query rows (16 per warp, so no reduction
/// crosses warps); S = Q K^T reads Q and K straight from 128-byte-swizzled shared tiles, O += P V
/// takes P from registers and V from shared memory (<see cref="Wgmma"/>, <see cref="Swizzle128"/>).
/// K and V tiles of 64 keys stream through two cp.async stages: tile j + 1 loads during all of tile
/// j's work, so one barrier per tile both publishes tile j and frees the stage tile j + 1 fills.
/// Each product waits for itself (see <see cref="Wgmma"/>): overlap of the tensor cores with the
/// softmax comes from the other warpgroups on the SM.
/// The softmax, masks, score variants and output are the mma.sync kernel's pieces: a wgmma
/// accumulator is, per warp, a <see cref="Tile8"/>.
/// Grid = (ceil(seqlen_q / Br), heads_q, batch), 32 TWarps threads (4, 8 or 12: one to three warpgroups,
/// Br = 16 TWarps; 12 only bounded to one group per SM), <see cref="SharedElements"/> ushorts. TDim is a multiple of 64 up to 256.
/// </summary>
public static class WgmmaForwardKernel
{
    /// <summary>Keys per tile: one m64n64 product per warpgroup.</summary>
    public const int Bc = 64;

    /// <summary>
    /// Shared-memory elements (ushort) of one group: Q (Br rows), two stages of K and V, 1 KB to align the tiles, and after them
    /// the bias stages of <paramref name="biasWarps"/> warps (<see cref="BiasStage"/>; 0 without a staged bias) or the packed-mask
    /// stages of <paramref name="maskWarps"/> warps (<see cref="MaskStage"/>; 0 without a staged mask).
    /// </summary>
    public static int SharedElements(int dim, int br, int biasWarps = 0, int maskWarps = 0) =>
        (br + 4 * Bc) * dim + Swizzle128.GroupBytes / 2 + (biasWarps > 0 ? BiasStage.SharedElements(biasWarps) : 0)
        + (maskWarps > 0 ? MaskStage.SharedElements(maskWarps) : 0);

    /// <summary>The kernel body (see the class summary).</summary>
    public static void Run<TTarget, TElement, TDim, TWarps, TScores>(ForwardParams<ushort> p)
        where TTarget : struct, ITensorCoreTarget
        where TElement : struct, IMmaElement
        where TDim : struct, IConstant
        where TWarps : struct, IConstant
        where TScores : struct, IScoreMode
    {
        WgmmaOutput.Declare<TTarget>();
        int dim = default(TDim).Value;
        var g = WgmmaGroup.Locate<TTarget, TWarps, TScores>(ref p, dim);
        if (g.Block.Rows <= 0)
            return;
        g.Start<TTarget, TWarps, TScores>(p, dim);
        var block = g.Block;
        bool tensors = default(TScores).Tensors; // the bias and mask terms BeginTile loaded are passed to the softmax
        bool bitMask = default(TScores).BitMask;
        if (block.EndTile > block.FirstTile)
            LoadStage<TTarget>(g, p, block.FirstTile, dim, g.StageBase);
        bool staged = default(TScores).StagedBias;
        var bias = g.StartBias<TTarget, TWarps, TScores>(dim);
        bool stagedMask = default(TScores).StagedMask;
        var maskStage = g.StartMask<TTarget, TScores>(dim);
        CpAsync.Commit<TTarget>();

        var softmax = FragmentSoftmax.Start();
        var o = WgmmaOutput.Start<TTarget>(dim);
        int stage = g.StageBase;
        long blockRow = bitMask ? p.Blocks.RowStart(block.Batch, block.Head, block.FirstRow) : 0;
        bool peek = bitMask && p.Blocks.MayHide(blockRow); // else the tiles run in order, no flag read
        for (int j = block.FirstTile; j < block.EndTile;)
        {
            int firstCol = j * Bc;
            // Past its barrier tile j has landed; every warp is done with tile j - 1, whose stage the next tile takes.
            int nextTile = g.BeginTile<TTarget, TScores>(p, j, blockRow, peek, out var terms, out var keep);
            int nextStage = stage == g.StageBase ? g.StageBase + 2 * Bc * dim : g.StageBase;
            if (nextTile < block.EndTile)
                LoadStage<TTarget>(g, p, nextTile, dim, nextStage);
            if (staged && nextTile < block.EndTile)
                bias.Issue<TTarget>(g.Shared, g.SharedBase, g.Scores.Elements, g.WarpFirstRow, nextTile);
            if (stagedMask)
            {
                keep = maskStage.Read(g.Shared); // tile j's words, landed with its K/V; read before the stage is refilled
                if (nextTile < block.EndTile)
                    maskStage.Issue<TTarget>(g.Shared, g.SharedBase, g.Bits, nextTile);
            }
            CpAsync.Commit<TTarget>();

            // Seeded (SeededScores), S starts from the tile's packed mask (-inf where it hides a score) or staged bias (b / scale, the
            // fused form's units; the launcher seeds a bias only at a positive scale) and the product adds Q K^T onto it: nothing
            // waits on S for them after the product.
            bool seeded = default(TScores).Seeded && (bitMask || staged);
            Tile8 s = default;
            if (seeded && bitMask)
                s = keep.Seed<TTarget>(Bc);
            if (seeded && staged)
            {
                terms = bias.Read<TTarget>(g.Shared, g.Exchange);
                terms.AddHalfBias<TTarget>(ref s, p.RawBiasUnit, Bc);
            }
            Wgmma.Scores<TTarget, TElement>(ref s, g.Shared, g.SharedBase, g.QBlock, stage, dim);
            if (staged && !seeded)
                terms = bias.Read<TTarget>(g.Shared, g.Exchange);
            // Only tiles that cross the key sequence's end, the causal diagonal or a window edge of this warp's rows need the per-element mask.
            bool applyMask = !p.Mask.AllVisible(g.WarpFirstRow, g.WarpFirstRow + 15, firstCol, firstCol + Bc - 1);
            var (alphaLow, alphaHigh) = softmax.Update<TTarget, TScores>(ref s, p.Mask, g.Scores, tensors, terms, p.ScaleLog2, p.RawBiasUnit, g.RowLow, firstCol,
                applyMask, Bc, g.Dropout, keep, seeded);
            var probabilities = ProbabilityFragments.From<TTarget, TElement>(s, Bc);

            // After the first tiles a row's max seldom grows: then every factor is 1 and the rescale is skipped.
            if (!WarpVote.All<TTarget>(alphaLow == 1f && alphaHigh == 1f))
                o.Rescale<TTarget>(alphaLow, alphaHigh, dim);
            o.Accumulate<TTarget, TElement>(probabilities, g.Shared, g.SharedBase, stage + Bc * dim, dim, g.Exchange); // V follows K in the stage
            stage = nextStage;
            j = nextTile;
        }
        CpAsync.WaitAll<TTarget>(); // nothing may be in flight when the group exits (Q when no key tile is visible)

        o.ReadOut<TTarget>(dim);
        TensorCoreForwardKernel.Finish<TTarget, TElement>(p, block.Batch, block.Head, g.RowLow, softmax, o.O0, o.O1, o.O2, o.O3, dim);
    }

    /// <summary>Issues the copies of key tile <paramref name="tile"/>'s K and V into the stage at <paramref name="at"/>.</summary>
    private static void LoadStage<TTarget>(in WgmmaGroup g, in ForwardParams<ushort> p, int tile, int dim, int at)
        where TTarget : struct, ITensorCoreTarget
    {
        g.LoadKeys<TTarget>(p, tile, dim, at);
        g.LoadValues<TTarget>(p, tile, dim, at + Bc * dim);
    }

    /// <summary>
    /// Issues the copies of key tile <paramref name="tile"/> of <paramref name="source"/> (K or V; <paramref name="start"/> its group's
    /// <see cref="SwizzledTileCopy.HeadStart{TTarget}"/>) to shared element <paramref name="at"/>.
    /// </summary>
    internal static void LoadTile<TTarget>(in SwizzledTileCopy copy, in ForwardParams<ushort> p, in StridedTensor<ushort> source, ulong start, int tile,
        int dim, bool vectorized, ArrayView<ushort> shared, int sharedBase, int at)
        where TTarget : struct, ITensorCoreTarget
    {
        int first = tile * Bc;
        Copy<TTarget>(copy, source, start, first, Math.Min(Bc, p.SeqLenK - first), Bc, dim, p.HeadDim, vectorized, shared, sharedBase, at);
    }

    /// <summary>
    /// A tile into the swizzled layout, from the batch item and head of <paramref name="source"/> at <paramref name="start"/>
    /// (<see cref="SwizzledTileCopy.HeadStart{TTarget}"/>): cp.async when rows are 16-byte aligned, else element by element.
    /// </summary>
    internal static void Copy<TTarget>(in SwizzledTileCopy copy, in StridedTensor<ushort> source, ulong start, int firstRow, int validRows,
        int rows, int dim, int headDim, bool vectorized, ArrayView<ushort> shared, int sharedBase, int at)
        where TTarget : struct, ITensorCoreTarget
    {
        if (vectorized)
            copy.Load<TTarget>(source, start, firstRow, validRows, rows, dim, shared, sharedBase, at);
        else
            TileCopy.LoadElements<TTarget>(source, SwizzledTileCopy.HeadOffset<TTarget>(source, start), firstRow, validRows, rows, dim, headDim, shared, at, 0);
    }
}
