using FlashAttention.Kernels.Numerics;
using FlashAttention.Kernels.Portable;
using ILGPU.Algorithms;

namespace FlashAttention.Kernels.TensorCore;

/// <summary>
/// The tensor-core forward, FlashAttention-2's design, for fp16 or bf16 (raw bits as ushort):
/// TWarps warps per group, each owning TWarpRows (16 or 32) of the group's Br = TWarpRows x TWarps
/// query rows, so no reduction crosses warps; a warp with 32 rows runs two 16-row blocks that share
/// every K and V fragment it loads. Q, K, V tiles (rows padded by 8 elements so ldmatrix is free of
/// bank conflicts) in dynamic shared memory; S = Q K^T and O += P V on mma.sync m16n8k16 with
/// operands from ldmatrix (.trans for V); the online softmax on the accumulator fragments; P kept in
/// registers. K and V tiles of TBc (32 or 64) keys stream through cp.async: V_j loads while S_j is
/// computed, K_{j+1} while P_j V_j is.
/// Grid = (ceil(seqlen_q / Br), heads_q, batch), 32 TWarps threads, <see cref="SharedElements"/> ushorts.
/// Hopper's wgmma has its own kernel, <see cref="WgmmaForwardKernel"/>.
/// </summary>
public static class TensorCoreForwardKernel
{
    /// <summary>Row length of the shared tiles: 8 elements (16 bytes) of padding keep ldmatrix rows on distinct banks.</summary>
    public static int Stride(int dim) => dim + 8;

    /// <summary>Shared-memory elements (ushort) of one group: Q (Br rows), K and V (Bc rows each).</summary>
    public static int SharedElements(int dim, int br, int bc) => (br + 2 * bc) * Stride(dim);

    /// <summary>
    /// The kernel body: head dim TDim (32 to 256, a multiple of 32), TWarps warps (4 or 8) of TWarpRows
    /// rows (16 or 32), TBc keys per tile (32 or 64), TScores with or without soft cap and ALiBi.
    /// </summary>
    public static void Run<TTarget, TElement, TDim, TWarps, TWarpRows, TBc, TScores>(ForwardParams<ushort> p)
        where TTarget : struct, ITensorCoreTarget
        where TElement : struct, IMmaElement
        where TDim : struct, IConstant
        where TWarps : struct, IConstant
        where TWarpRows : struct, IConstant
        where TBc : struct, IConstant
        where TScores : struct, IScoreMode
    {
        int dim = default(TDim).Value;
        int warpRows = default(TWarpRows).Value;
        bool two = warpRows == 32; // a second 16-row block below the first
        int br = warpRows * default(TWarps).Value;
        int bc = default(TBc).Value;
        int stride = Stride(dim);
        var shared = SharedMemory.GetDynamic<ushort>();
        var exchange = WarpExchange.Allocate<TTarget>();
        int kBase = br * stride;
        int vBase = kBase + bc * stride;
        bool vectorized = p.VectorAligned != 0;

        var block = QueryBlock.Locate<TScores>(ref p, br, bc);
        if (block.Rows <= 0)
            return;
        int firstRow = block.FirstRow, head = block.Head, batch = block.Batch, kvHead = block.KvHead, rowsHere = block.Rows;
        int warp = Group.IdxX >> 5;
        int lane = Warp.LaneIdx;
        int warpFirstRow = firstRow + warp * warpRows;
        int rowTop = warpFirstRow + (lane >> 2); // this lane's rows: rowTop, rowTop + 8 (and + 16, + 24 in the bottom block)

        // This lane's ldmatrix offsets, fixed for the whole kernel: Q of both blocks, K and V at their first key and dim.
        var lanes = new LdmatrixLanes(stride);
        int qTop = warp * warpRows * stride + lanes.A;
        int qBottom = qTop + 16 * stride;
        int kLane = kBase + lanes.B;
        int vLane = vBase + lanes.A;

        int firstTile = block.FirstTile, endTile = block.EndTile;
        bool tensors = default(TScores).Tensors;
        bool biasOnly = default(TScores).BiasOnly;
        var scores = default(TScores).Pointwise || biasOnly ? p.Scores.ForHead(batch, head) : p.Scores;
        bool dropping = default(TScores).Dropout;
        var dropout = dropping ? p.Dropout.ForHead(batch, head) : p.Dropout;
        bool bitMask = default(TScores).BitMask;
        var bits = bitMask ? p.Bits.ForHead(batch, head) : p.Bits;
        TileCopy.Load<TTarget>(p.Q, batch, head, firstRow, rowsHere, br, dim, p.HeadDim, vectorized, shared, 0, stride);
        if (endTile > firstTile)
        {
            int first = firstTile * bc;
            TileCopy.Load<TTarget>(p.K, batch, kvHead, first, Math.Min(bc, p.SeqLenK - first), bc, dim, p.HeadDim, vectorized, shared, kBase, stride);
        }
        CpAsync.Commit<TTarget>();

        // Tiles' bias and mask elements are loaded ahead (BiasFragment), except in kernels without the
        // tensors and in 32-row warps: their S and O fragments leave no room for 48 more registers per
        // block (ptxas spilled ~700 bytes per thread at d 128), so they read the elements in the softmax.
        bool prefetched = tensors && !two;

        var softmaxTop = FragmentSoftmax.Start();
        var softmaxBottom = FragmentSoftmax.Start();
        // O by 64-dim blocks: dims 0-63, 64-127, 128-191, 192-255; of the top and the bottom 16 rows.
        Tile8 oTop0 = default, oTop1 = default, oTop2 = default, oTop3 = default;
        Tile8 oBottom0 = default, oBottom1 = default, oBottom2 = default, oBottom3 = default;
        long blockRow = bitMask ? p.Blocks.RowStart(batch, head, firstRow) : 0;
        bool peek = bitMask && p.Blocks.MayHide(blockRow); // else the tiles run in order, no flag read
        for (int j = firstTile; j < endTile;)
        {
            int firstCol = j * bc;
            // With a packed mask the next tile's block flag is loaded here and answered after the barrier (see WgmmaForwardKernel).
            int nextTile = bitMask ? j + 1 : p.Blocks.NextVisibleTile(batch, head, firstRow, j + 1, endTile, bc);
            byte nextFlag = peek ? p.Blocks.PeekAt(blockRow, j + 1, bc) : (byte)1;
            // In flight through the wait, the barrier and S = Q K^T. Not a tile earlier: ptxas then
            // moved the loop-carried registers before P V, which waited for the loads there.
            var terms = prefetched || biasOnly ? BiasFragment.Load(scores.Elements, rowTop, firstCol, bc, withMask: !biasOnly, halfBias: default(TScores).HalfBias) : default;
            var termsBottom = biasOnly && two ? BiasFragment.Load(scores.Elements, rowTop + 16, firstCol, bc, withMask: false, halfBias: default(TScores).HalfBias) : default;
            var keepTop = bitMask ? MaskWords.Load(bits, rowTop, firstCol, bc) : default;
            var keepBottom = bitMask && two ? MaskWords.Load(bits, rowTop + 16, firstCol, bc) : default;
            CpAsync.WaitAll<TTarget>();
            Group.Barrier(); // K_j has landed; every warp is done with V_{j-1}
            if (peek)
                nextTile = p.Blocks.NextVisibleTileAfter(nextFlag, batch, head, firstRow, j + 1, endTile, bc);
            TileCopy.Load<TTarget>(p.V, batch, kvHead, firstCol, Math.Min(bc, p.SeqLenK - firstCol), bc, dim, p.HeadDim, vectorized, shared, vBase, stride);
            CpAsync.Commit<TTarget>();

            // Seeded (SeededScores), S starts from the packed mask (-inf where it hides a score) and the products add Q K^T onto it,
            // as on wgmma.
            bool seeded = bitMask && default(TScores).Seeded;
            Tile8 sTop = seeded ? keepTop.Seed<TTarget>(bc) : default, sBottom = seeded && two ? keepBottom.Seed<TTarget>(bc) : default;
            Scores<TTarget, TElement>(ref sTop, ref sBottom, two, shared, qTop, qBottom, kLane, dim, bc, exchange);
            // Only tiles that cross the key sequence's end, the causal diagonal or a window edge of this warp's rows need the per-element mask.
            bool applyMask = !p.Mask.AllVisible(warpFirstRow, warpFirstRow + warpRows - 1, firstCol, firstCol + bc - 1);
            var (alphaTopLow, alphaTopHigh) = softmaxTop.Update<TTarget, TScores>(ref sTop, p.Mask, scores, prefetched, terms, p.ScaleLog2, p.RawBiasUnit, rowTop, firstCol, applyMask, bc,
                dropout, keepTop, seeded);
            var pTop = ProbabilityFragments.From<TTarget, TElement>(sTop, bc);
            float alphaBottomLow = 1f, alphaBottomHigh = 1f;
            ProbabilityFragments pBottom = default;
            if (two)
            {
                (alphaBottomLow, alphaBottomHigh) = softmaxBottom.Update<TTarget, TScores>(ref sBottom, p.Mask, scores, false, termsBottom, p.ScaleLog2, p.RawBiasUnit, rowTop + 16,
                    firstCol, applyMask, bc, dropout, keepBottom, seeded);
                pBottom = ProbabilityFragments.From<TTarget, TElement>(sBottom, bc);
            }

            CpAsync.WaitAll<TTarget>();
            Group.Barrier(); // V_j has landed; every warp is done with K_j
            if (nextTile < endTile)
            {
                int next = nextTile * bc;
                TileCopy.Load<TTarget>(p.K, batch, kvHead, next, Math.Min(bc, p.SeqLenK - next), bc, dim, p.HeadDim, vectorized, shared, kBase, stride);
            }
            CpAsync.Commit<TTarget>();

            // After the first tiles a row's max seldom grows: when no row of the warp has a new max, all
            // factors are 1 and the d / 2 multiplies per lane and row block that rescale O are skipped.
            bool unchanged = alphaTopLow == 1f && alphaTopHigh == 1f && alphaBottomLow == 1f && alphaBottomHigh == 1f;
            if (!WarpVote.All<TTarget>(unchanged))
            {
                var alphas = new RowScales(alphaTopLow, alphaTopHigh, alphaBottomLow, alphaBottomHigh);
                Rescale(ref oTop0, ref oBottom0, two, alphas);
                if (dim > 64)
                    Rescale(ref oTop1, ref oBottom1, two, alphas);
                if (dim > 128)
                    Rescale(ref oTop2, ref oBottom2, two, alphas);
                if (dim > 192)
                    Rescale(ref oTop3, ref oBottom3, two, alphas);
            }
            AccumulatePV<TTarget, TElement>(ref oTop0, ref oBottom0, pTop, pBottom, two, shared, vLane, stride, 0, dim, bc, exchange);
            if (dim > 64)
                AccumulatePV<TTarget, TElement>(ref oTop1, ref oBottom1, pTop, pBottom, two, shared, vLane, stride, 64, dim, bc, exchange);
            if (dim > 128)
                AccumulatePV<TTarget, TElement>(ref oTop2, ref oBottom2, pTop, pBottom, two, shared, vLane, stride, 128, dim, bc, exchange);
            if (dim > 192)
                AccumulatePV<TTarget, TElement>(ref oTop3, ref oBottom3, pTop, pBottom, two, shared, vLane, stride, 192, dim, bc, exchange);
            j = nextTile;
        }
        CpAsync.WaitAll<TTarget>(); // nothing may be in flight when the group exits (Q when no key tile is visible)

        Finish<TTarget, TElement>(p, batch, head, rowTop, softmaxTop, oTop0, oTop1, oTop2, oTop3, dim);
        if (two)
            Finish<TTarget, TElement>(p, batch, head, rowTop + 16, softmaxBottom, oBottom0, oBottom1, oBottom2, oBottom3, dim);
    }

    /// <summary>The online-softmax rescale factors of a warp's rows: top block rows g, g + 8; bottom block rows g + 16, g + 24.</summary>
    private readonly record struct RowScales(float TopLow, float TopHigh, float BottomLow, float BottomHigh);

    /// <summary>O = alpha O for one 64-dim block of the output, top and (when <paramref name="two"/>) bottom rows.</summary>
    private static void Rescale(ref Tile8 top, ref Tile8 bottom, bool two, in RowScales alphas)
    {
        top.ScaleRows(alphas.TopLow, alphas.TopHigh);
        if (two)
            bottom.ScaleRows(alphas.BottomLow, alphas.BottomHigh);
    }

    /// <summary>
    /// O[:, d0 .. d0 + 63] += P V_j for one 64-dim block of the output (fewer columns where the
    /// head dim ends), of the top block and, when <paramref name="two"/>, the bottom block.
    /// </summary>
    private static void AccumulatePV<TTarget, TElement>(ref Tile8 top, ref Tile8 bottom, in ProbabilityFragments pTop, in ProbabilityFragments pBottom,
        bool two, ArrayView<ushort> shared, int vLane, int stride, int d0, int dim, int bc, in WarpExchange exchange)
        where TTarget : struct, ITensorCoreTarget
        where TElement : struct, IMmaElement
    {
        int columns = Math.Min(64, dim - d0);
        // Keys 16k .. 16k + 15 are rows 16k.. of V; the next 16 dims are 16 elements further along a row.
        int offset = vLane + d0;
        Tile8.MultiplyAccumulate<TTarget, TElement>(ref top, pTop.K0, ref bottom, pBottom.K0, two, shared, offset, 16, transposedB: true, exchange, columns);
        Tile8.MultiplyAccumulate<TTarget, TElement>(ref top, pTop.K1, ref bottom, pBottom.K1, two, shared, offset + 16 * stride, 16, transposedB: true, exchange, columns);
        if (bc > 32)
        {
            Tile8.MultiplyAccumulate<TTarget, TElement>(ref top, pTop.K2, ref bottom, pBottom.K2, two, shared, offset + 32 * stride, 16, transposedB: true, exchange, columns);
            Tile8.MultiplyAccumulate<TTarget, TElement>(ref top, pTop.K3, ref bottom, pBottom.K3, two, shared, offset + 48 * stride, 16, transposedB: true, exchange, columns);
        }
    }

    /// <summary>
    /// S = Q K_j^T for the warp's rows, in 32-deep steps under compile-time guards: straight-line code
    /// (ILGPU does not unroll loops), so ptxas can overlap each step's ldmatrix with the previous
    /// step's mma.sync.
    /// </summary>
    private static void Scores<TTarget, TElement>(ref Tile8 top, ref Tile8 bottom, bool two, ArrayView<ushort> shared,
        int qTop, int qBottom, int kLane, int dim, int bc, in WarpExchange exchange)
        where TTarget : struct, ITensorCoreTarget
        where TElement : struct, IMmaElement
    {
        int stride = Stride(dim);
        ScoreSteps32<TTarget, TElement>(ref top, ref bottom, two, shared, qTop, qBottom, kLane, stride, bc, 0, exchange);
        if (dim > 32)
            ScoreSteps32<TTarget, TElement>(ref top, ref bottom, two, shared, qTop, qBottom, kLane, stride, bc, 32, exchange);
        if (dim > 64)
            ScoreSteps32<TTarget, TElement>(ref top, ref bottom, two, shared, qTop, qBottom, kLane, stride, bc, 64, exchange);
        if (dim > 96)
            ScoreSteps32<TTarget, TElement>(ref top, ref bottom, two, shared, qTop, qBottom, kLane, stride, bc, 96, exchange);
        if (dim > 128)
            ScoreSteps32<TTarget, TElement>(ref top, ref bottom, two, shared, qTop, qBottom, kLane, stride, bc, 128, exchange);
        if (dim > 160)
            ScoreSteps32<TTarget, TElement>(ref top, ref bottom, two, shared, qTop, qBottom, kLane, stride, bc, 160, exchange);
        if (dim > 192)
            ScoreSteps32<TTarget, TElement>(ref top, ref bottom, two, shared, qTop, qBottom, kLane, stride, bc, 192, exchange);
        if (dim > 224)
            ScoreSteps32<TTarget, TElement>(ref top, ref bottom, two, shared, qTop, qBottom, kLane, stride, bc, 224, exchange);
    }

    /// <summary>Head dims k0 .. k0 + 31 of S: two 16-deep steps, each one ldmatrix of Q per block and bc / 16 of K.</summary>
    private static void ScoreSteps32<TTarget, TElement>(ref Tile8 top, ref Tile8 bottom, bool two, ArrayView<ushort> shared,
        int qTop, int qBottom, int kLane, int stride, int bc, int k0, in WarpExchange exchange)
        where TTarget : struct, ITensorCoreTarget
        where TElement : struct, IMmaElement
    {
        ScoreStep<TTarget, TElement>(ref top, ref bottom, two, shared, qTop + k0, qBottom + k0, kLane + k0, stride, bc, exchange);
        ScoreStep<TTarget, TElement>(ref top, ref bottom, two, shared, qTop + k0 + 16, qBottom + k0 + 16, kLane + k0 + 16, stride, bc, exchange);
    }

    private static void ScoreStep<TTarget, TElement>(ref Tile8 top, ref Tile8 bottom, bool two, ArrayView<ushort> shared,
        int qTop, int qBottom, int kLane, int stride, int bc, in WarpExchange exchange)
        where TTarget : struct, ITensorCoreTarget
        where TElement : struct, IMmaElement
    {
        var aTop = QFragment<TTarget>(shared, qTop, exchange);
        var aBottom = two ? QFragment<TTarget>(shared, qBottom, exchange) : default;
        // The next 16 keys are 16 rows of K further on.
        Tile8.MultiplyAccumulate<TTarget, TElement>(ref top, aTop, ref bottom, aBottom, two, shared, kLane, 16 * stride, transposedB: false, exchange, columns: bc);
    }

    /// <summary>A 16 x 16 A fragment of Q (ldmatrix .x4 of its four 8 x 8 quarters) at this lane's offset.</summary>
    private static FragmentA QFragment<TTarget>(ArrayView<ushort> shared, int offset, in WarpExchange exchange)
        where TTarget : struct, ITensorCoreTarget
    {
        var f = Ldmatrix.X4<TTarget>(shared, offset, transpose: false, exchange);
        return new FragmentA { A0 = f.R0, A1 = f.R1, A2 = f.R2, A3 = f.R3 };
    }

    /// <summary>Normalises one 16-row block of O by its row sums and writes it, with its LSE.</summary>
    internal static void Finish<TTarget, TElement>(in ForwardParams<ushort> p, int batch, int head, int rowLow, in FragmentSoftmax softmax,
        in Tile8 o0, in Tile8 o1, in Tile8 o2, in Tile8 o3, int dim)
        where TTarget : struct, ITensorCoreTarget
        where TElement : struct, IMmaElement
    {
        var (lLow, lHigh) = softmax.RowSums();
        float invLow = lLow > 0f ? 1f / lLow : 0f;
        float invHigh = lHigh > 0f ? 1f / lHigh : 0f;
        if ((Warp.LaneIdx & 3) == 0 && p.WriteLse != 0)
        {
            WriteLse(p, batch, head, rowLow, softmax.MLow, lLow);
            WriteLse(p, batch, head, rowLow + 8, softmax.MHigh, lHigh);
        }
        var output = new FragmentOutput<TTarget, TElement>(p, batch, head, rowLow, invLow, invHigh, p.VectorAligned != 0);
        output.Write(o0, 0, dim);
        if (dim > 64)
            output.Write(o1, 64, dim);
        if (dim > 128)
            output.Write(o2, 128, dim);
        if (dim > 192)
            output.Write(o3, 192, dim);
    }

    private static void WriteLse(in ForwardParams<ushort> p, int batch, int head, int row, float m, float l)
    {
        if (row < p.SeqLenQ)
            p.Lse[((long)batch * p.HeadsQ + head) * p.SeqLenQ + row] = l > 0f ? (m + XMath.Log2(l)) * 0.693147180559945309f : float.NegativeInfinity;
    }
}
