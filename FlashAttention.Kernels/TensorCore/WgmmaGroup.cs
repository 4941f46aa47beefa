using FlashAttention.Kernels.Numerics;
using FlashAttention.Kernels.Portable;

namespace FlashAttention.Kernels.TensorCore;

/// <summary>
/// What a group of a wgmma forward knows before its key loop, however the loop is pipelined: where Q and the two K/V
/// stages sit in shared memory, the query block it owns, this lane's rows, and its head's score inputs.
/// Shared by <see cref="WgmmaForwardKernel"/> and <see cref="WgmmaPipelinedForwardKernel"/>.
/// </summary>
internal struct WgmmaGroup
{
    /// <summary>The dynamic shared buffer and its byte address in the shared window.</summary>
    public ArrayView<ushort> Shared;
    public int SharedBase;

    /// <summary>The emulation's exchange board (empty on CUDA).</summary>
    public WarpExchange Exchange;

    /// <summary>Q's tile (Br rows), then stage s: K at StageBase + 2 s Bc dim, V right after it.</summary>
    public int QBase, StageBase;

    /// <summary>The group's query rows, head and key tiles; Rows = 0: nothing to do.</summary>
    public QueryBlock Block;

    /// <summary>The first row of this warp, this lane's rows (RowLow, RowLow + 8), and the first element of this warpgroup's 64 rows of Q.</summary>
    public int WarpFirstRow, RowLow, QBlock;

    /// <summary>The head's score variants, dropout and packed mask (as the score mode compiles them in).</summary>
    public ScoreModifier Scores;
    public Dropout Dropout;
    public MaskBits Bits;

    /// <summary>The running cp.async addresses of a tile copy, and whether rows allow it (else element copies).</summary>
    public SwizzledTileCopy Copy;
    public bool Vectorized;

    /// <summary>
    /// Row 0 of the group's (batch, kv head) of K and of V (<see cref="SwizzledTileCopy.HeadStart{TTarget}"/>): computed once, so a key
    /// tile's copy does not multiply the batch and head strides again. One each: K and V may lie in different buffers with different strides.
    /// </summary>
    public ulong KeyStart, ValueStart;

    /// <summary>The shared-memory layout and the query block (a varlen call rebases <paramref name="p"/> onto the group's sequence).</summary>
    public static WgmmaGroup Locate<TTarget, TWarps, TScores>(ref ForwardParams<ushort> p, int dim)
        where TTarget : struct, ITensorCoreTarget
        where TWarps : struct, IConstant
        where TScores : struct, IScoreMode
    {
        int br = 16 * default(TWarps).Value;
        var g = new WgmmaGroup { Shared = SharedMemory.GetDynamic<ushort>(), SharedBase = Wgmma.SharedBase<TTarget>(), Exchange = WarpExchange.Allocate<TTarget>() };
        g.QBase = Wgmma.AlignedStart(g.SharedBase);
        g.StageBase = g.QBase + br * dim;
        g.Vectorized = p.VectorAligned != 0;
        g.Block = QueryBlock.Locate<TScores>(ref p, br, WgmmaForwardKernel.Bc);
        return g;
    }

    /// <summary>For a block with rows: this lane's rows, the head's score inputs, and Q's copy issued (not committed).</summary>
    public void Start<TTarget, TWarps, TScores>(in ForwardParams<ushort> p, int dim)
        where TTarget : struct, ITensorCoreTarget
        where TWarps : struct, IConstant
        where TScores : struct, IScoreMode
    {
        int warp = Group.IdxX >> 5;
        WarpFirstRow = Block.FirstRow + 16 * warp;
        RowLow = WarpFirstRow + (Warp.LaneIdx >> 2);
        QBlock = QBase + (warp >> 2) * 64 * dim;

        Scores = default(TScores).Pointwise || default(TScores).BiasOnly ? p.Scores.ForHead(Block.Batch, Block.Head) : p.Scores;
        Dropout = default(TScores).Dropout ? p.Dropout.ForHead(Block.Batch, Block.Head) : p.Dropout;
        Bits = default(TScores).BitMask ? p.Bits.ForHead(Block.Batch, Block.Head) : p.Bits;

        Copy = new SwizzledTileCopy(dim, p.HeadDim, 32 * default(TWarps).Value);
        KeyStart = SwizzledTileCopy.HeadStart<TTarget>(p.K, Block.Batch, Block.KvHead);
        ValueStart = SwizzledTileCopy.HeadStart<TTarget>(p.V, Block.Batch, Block.KvHead);
        WgmmaForwardKernel.Copy<TTarget>(Copy, p.Q, SwizzledTileCopy.HeadStart<TTarget>(p.Q, Block.Batch, Block.Head), Block.FirstRow, Block.Rows,
            16 * default(TWarps).Value, dim, p.HeadDim, Vectorized, Shared, SharedBase, QBase);
    }

    /// <summary>
    /// The top of key tile <paramref name="j"/>'s iteration: the tile's bias / mask terms and packed-mask words are loaded
    /// first, so they are in flight through the wait for the tile's copies, the fence and the barrier; returns the next
    /// visible tile. With a packed mask (which brings a derived block mask) the next tile's block flag is loaded before
    /// the barrier and answered after it (<paramref name="peek"/>, rows of blocks that may hide any), so its latency
    /// does not stall the loop; other modes test it first.
    /// </summary>
    public readonly int BeginTile<TTarget, TScores>(in ForwardParams<ushort> p, int j, long blockRow, bool peek, out BiasFragment terms, out MaskWords keep)
        where TTarget : struct, ITensorCoreTarget
        where TScores : struct, IScoreMode
    {
        const int Bc = WgmmaForwardKernel.Bc;
        int firstCol = j * Bc;
        bool biasOnly = default(TScores).BiasOnly, bitMask = default(TScores).BitMask;
        int nextTile = bitMask ? j + 1 : p.Blocks.NextVisibleTile(Block.Batch, Block.Head, Block.FirstRow, j + 1, Block.EndTile, Bc);
        byte nextFlag = peek ? p.Blocks.PeekAt(blockRow, j + 1, Bc) : (byte)1;
        terms = (default(TScores).Tensors || biasOnly) && !default(TScores).StagedBias
            ? BiasFragment.Load(Scores.Elements, RowLow, firstCol, Bc, withMask: !biasOnly, halfBias: default(TScores).HalfBias) : default;
        keep = bitMask && !default(TScores).StagedMask ? MaskWords.Load(Bits, RowLow, firstCol, Bc) : default; // else read from its stage after the barrier
        CpAsync.WaitAll<TTarget>();
        Wgmma.FenceSharedWrites<TTarget>();
        Group.Barrier();
        if (peek)
            nextTile = p.Blocks.NextVisibleTileAfter(nextFlag, Block.Batch, Block.Head, Block.FirstRow, j + 1, Block.EndTile, Bc);
        return nextTile;
    }

    /// <summary>
    /// This warp's stages of a float16 bias staged through shared memory by cp.async (<see cref="StagedHalfBiasScores"/>), after the K/V stages,
    /// with the block's first key tile issued (before the commit of the first K tile's copies); default (unused) in other modes.
    /// </summary>
    public readonly BiasStage StartBias<TTarget, TWarps, TScores>(int dim)
        where TTarget : struct, ITensorCoreTarget
        where TWarps : struct, IConstant
        where TScores : struct, IScoreMode
    {
        if (!default(TScores).StagedBias)
            return default;
        var bias = BiasStage.Start<TTarget>(StageBase + 4 * WgmmaForwardKernel.Bc * dim, Scores.Elements, WarpFirstRow);
        if (Block.EndTile > Block.FirstTile)
            bias.Issue<TTarget>(Shared, SharedBase, Scores.Elements, WarpFirstRow, Block.FirstTile);
        return bias;
    }

    /// <summary>
    /// This warp's stages of a packed mask staged through shared memory by cp.async (<see cref="StagedBitMaskScores"/>), after the K/V
    /// stages, with the block's first key tile issued (before the commit of the first K tile's copies); default (unused) in other modes.
    /// </summary>
    public readonly MaskStage StartMask<TTarget, TScores>(int dim)
        where TTarget : struct, ITensorCoreTarget
        where TScores : struct, IScoreMode
    {
        if (!default(TScores).StagedMask)
            return default;
        var mask = MaskStage.Start<TTarget>(StageBase + 4 * WgmmaForwardKernel.Bc * dim, Bits, WarpFirstRow);
        if (Block.EndTile > Block.FirstTile)
            mask.Issue<TTarget>(Shared, SharedBase, Bits, Block.FirstTile);
        return mask;
    }

    /// <summary>Issues the copy of key tile <paramref name="tile"/> of K to shared element <paramref name="at"/>.</summary>
    public readonly void LoadKeys<TTarget>(in ForwardParams<ushort> p, int tile, int dim, int at)
        where TTarget : struct, ITensorCoreTarget =>
        WgmmaForwardKernel.LoadTile<TTarget>(Copy, p, p.K, KeyStart, tile, dim, Vectorized, Shared, SharedBase, at);

    /// <summary>Issues the copy of key tile <paramref name="tile"/> of V to shared element <paramref name="at"/>.</summary>
    public readonly void LoadValues<TTarget>(in ForwardParams<ushort> p, int tile, int dim, int at)
        where TTarget : struct, ITensorCoreTarget =>
        WgmmaForwardKernel.LoadTile<TTarget>(Copy, p, p.V, ValueStart, tile, dim, Vectorized, Shared, SharedBase, at);
}
