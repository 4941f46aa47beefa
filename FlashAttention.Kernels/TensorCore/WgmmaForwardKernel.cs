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

    /// <summary>Shared-memory elements (ushort) of one group: Q (Br rows), two stages of K and V, and 1 KB to align the tiles.</summary>
    public static int SharedElements(int dim, int br) => (br + 4 * Bc) * dim + Swizzle128.GroupBytes / 2;

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
        int br = 16 * default(TWarps).Value;
        var shared = SharedMemory.GetDynamic<ushort>();
        int sharedBase = Wgmma.SharedBase<TTarget>();
        int qBase = Wgmma.AlignedStart(sharedBase);
        int stageBase = qBase + br * dim; // stage s: K at stageBase + 2 s Bc dim, V right after it
        bool vectorized = p.VectorAligned != 0;

        var block = QueryBlock.Locate<TScores>(ref p, br, Bc);
        if (block.Rows <= 0)
            return;
        int warp = Group.IdxX >> 5;
        int warpFirstRow = block.FirstRow + 16 * warp;
        int rowLow = warpFirstRow + (Warp.LaneIdx >> 2); // this lane's rows: rowLow, rowLow + 8
        int qBlock = qBase + (warp >> 2) * 64 * dim;      // this warpgroup's 64 rows of Q

        bool tensors = default(TScores).Tensors;
        bool biasOnly = default(TScores).BiasOnly;
        var scores = default(TScores).Pointwise || biasOnly ? p.Scores.ForHead(block.Batch, block.Head) : p.Scores;
        bool dropping = default(TScores).Dropout;
        var dropout = dropping ? p.Dropout.ForHead(block.Batch, block.Head) : p.Dropout;
        bool bitMask = default(TScores).BitMask;
        var bits = bitMask ? p.Bits.ForHead(block.Batch, block.Head) : p.Bits;

        var copy = new SwizzledTileCopy(dim, p.HeadDim, 32 * default(TWarps).Value);
        Copy<TTarget>(copy, p.Q, block.Batch, block.Head, block.FirstRow, block.Rows, br, dim, p.HeadDim, vectorized, shared, sharedBase, qBase);
        if (block.EndTile > block.FirstTile)
            LoadStage<TTarget>(copy, p, block, block.FirstTile, dim, vectorized, shared, sharedBase, stageBase);
        CpAsync.Commit<TTarget>();

        var softmax = FragmentSoftmax.Start();
        var o = WgmmaOutput.Start<TTarget>(dim);
        int stage = stageBase;
        long blockRow = bitMask ? p.Blocks.RowStart(block.Batch, block.Head, block.FirstRow) : 0;
        bool peek = bitMask && p.Blocks.MayHide(blockRow); // else the tiles run in order, no flag read
        for (int j = block.FirstTile; j < block.EndTile;)
        {
            int firstCol = j * Bc;
            // With a packed mask (which brings a derived block mask) the next tile's block flag is
            // loaded here and answered after the barrier, so its latency does not stall the loop; other modes test it here.
            int nextTile = bitMask ? j + 1 : p.Blocks.NextVisibleTile(block.Batch, block.Head, block.FirstRow, j + 1, block.EndTile, Bc);
            byte nextFlag = peek ? p.Blocks.PeekAt(blockRow, j + 1, Bc) : (byte)1;
            // In flight through the wait, the barrier and S = Q K^T.
            var terms = tensors || biasOnly ? BiasFragment.Load(scores.Elements, rowLow, firstCol, Bc, withMask: !biasOnly, halfBias: default(TScores).HalfBias) : default;
            var keep = bitMask ? MaskWords.Load(bits, rowLow, firstCol, Bc) : default;
            CpAsync.WaitAll<TTarget>();
            Wgmma.FenceSharedWrites<TTarget>();
            Group.Barrier(); // tile j has landed; every warp is done with tile j - 1, whose stage the next tile takes
            if (peek)
                nextTile = p.Blocks.NextVisibleTileAfter(nextFlag, block.Batch, block.Head, block.FirstRow, j + 1, block.EndTile, Bc);
            int nextStage = stage == stageBase ? stageBase + 2 * Bc * dim : stageBase;
            if (nextTile < block.EndTile)
                LoadStage<TTarget>(copy, p, block, nextTile, dim, vectorized, shared, sharedBase, nextStage);
            CpAsync.Commit<TTarget>();

            Tile8 s = default;
            Wgmma.Scores<TTarget, TElement>(ref s, shared, sharedBase, qBlock, stage, dim);
            // Only tiles that cross the key sequence's end, the causal diagonal or a window edge of this warp's rows need the per-element mask.
            bool applyMask = !p.Mask.AllVisible(warpFirstRow, warpFirstRow + 15, firstCol, firstCol + Bc - 1);
            var (alphaLow, alphaHigh) = softmax.Update<TTarget, TScores>(ref s, p.Mask, scores, tensors, terms, p.ScaleLog2, rowLow, firstCol,
                applyMask, Bc, dropout, keep);
            var probabilities = ProbabilityFragments.From<TTarget, TElement>(s, Bc);

            // After the first tiles a row's max seldom grows: then every factor is 1 and the rescale is skipped.
            if (!WarpVote.All<TTarget>(alphaLow == 1f && alphaHigh == 1f))
                o.Rescale<TTarget>(alphaLow, alphaHigh, dim);
            o.Accumulate<TTarget, TElement>(probabilities, shared, sharedBase, stage + Bc * dim, dim); // V follows K in the stage
            stage = nextStage;
            j = nextTile;
        }
        CpAsync.WaitAll<TTarget>(); // nothing may be in flight when the group exits (Q when no key tile is visible)

        o.ReadOut<TTarget>(dim);
        TensorCoreForwardKernel.Finish<TTarget, TElement>(p, block.Batch, block.Head, rowLow, softmax, o.O0, o.O1, o.O2, o.O3, dim);
    }

    /// <summary>Issues the copies of key tile <paramref name="tile"/>'s K and V into the stage at <paramref name="at"/>.</summary>
    private static void LoadStage<TTarget>(in SwizzledTileCopy copy, in ForwardParams<ushort> p, in QueryBlock block, int tile, int dim, bool vectorized,
        ArrayView<ushort> shared, int sharedBase, int at)
        where TTarget : struct, ITensorCoreTarget
    {
        LoadTile<TTarget>(copy, p, p.K, block, tile, dim, vectorized, shared, sharedBase, at);
        LoadTile<TTarget>(copy, p, p.V, block, tile, dim, vectorized, shared, sharedBase, at + Bc * dim);
    }

    /// <summary>Issues the copies of key tile <paramref name="tile"/> of <paramref name="source"/> (K or V) to shared element <paramref name="at"/>.</summary>
    internal static void LoadTile<TTarget>(in SwizzledTileCopy copy, in ForwardParams<ushort> p, in StridedTensor<ushort> source, in QueryBlock block, int tile,
        int dim, bool vectorized, ArrayView<ushort> shared, int sharedBase, int at)
        where TTarget : struct, ITensorCoreTarget
    {
        int first = tile * Bc;
        Copy<TTarget>(copy, source, block.Batch, block.KvHead, first, Math.Min(Bc, p.SeqLenK - first), Bc, dim, p.HeadDim, vectorized, shared, sharedBase, at);
    }

    /// <summary>A tile into the swizzled layout: running cp.async addresses when rows are 16-byte aligned, else element by element.</summary>
    internal static void Copy<TTarget>(in SwizzledTileCopy copy, in StridedTensor<ushort> source, int batch, int head, int firstRow, int validRows, int rows,
        int dim, int headDim, bool vectorized, ArrayView<ushort> shared, int sharedBase, int at)
        where TTarget : struct, ITensorCoreTarget
    {
        if (vectorized)
            copy.Load<TTarget>(source, batch, head, firstRow, validRows, rows, dim, shared, sharedBase, at);
        else
            TileCopy.Load<TTarget>(source, batch, head, firstRow, validRows, rows, dim, headDim, false, shared, at, 0);
    }
}
