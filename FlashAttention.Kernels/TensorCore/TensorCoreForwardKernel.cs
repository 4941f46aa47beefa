using FlashAttention.Kernels.Numerics;
using FlashAttention.Kernels.Portable;
using ILGPU.Algorithms;

namespace FlashAttention.Kernels.TensorCore;

/// <summary>
/// The tensor-core forward, FlashAttention-2's design, for fp16 or bf16 (raw bits as ushort):
/// TWarps warps per group, each owning 16 of the group's Br = 16 TWarps query rows, so no
/// reduction crosses warps; Q, K, V tiles (rows padded by 8 elements so ldmatrix is free of bank
/// conflicts) in dynamic shared memory; S = Q K^T and O += P V on mma.sync m16n8k16 with operands
/// from ldmatrix (.trans for V); the online softmax on the accumulator fragments; P kept in registers.
/// K and V stream through cp.async: V_j loads while S_j is computed, K_{j+1} while P_j V_j is.
/// Grid = (ceil(seqlen_q / Br), heads_q, batch), 32 TWarps threads, <see cref="SharedElements"/> ushorts.
/// </summary>
public static class TensorCoreForwardKernel
{
    /// <summary>Keys per tile.</summary>
    public const int Bc = 64;

    /// <summary>Row length of the shared tiles: 8 elements (16 bytes) of padding keep ldmatrix rows on distinct banks.</summary>
    public static int Stride(int dim) => dim + 8;

    /// <summary>Shared-memory elements (ushort) of one group.</summary>
    public static int SharedElements(int dim, int br) => (br + 2 * Bc) * Stride(dim);

    /// <summary>The kernel body: head dim TDim (32 to 256, a multiple of 32), TWarps warps (4 or 8).</summary>
    public static void Run<TTarget, TElement, TDim, TWarps>(ForwardParams<ushort> p)
        where TTarget : struct, ITensorCoreTarget
        where TElement : struct, IMmaElement
        where TDim : struct, IConstant
        where TWarps : struct, IConstant
    {
        int dim = default(TDim).Value;
        int br = 16 * default(TWarps).Value;
        int stride = Stride(dim);
        var shared = SharedMemory.GetDynamic<ushort>();
        int kBase = br * stride;
        int vBase = kBase + Bc * stride;
        bool vectorized = p.VectorAligned != 0;

        int firstRow = Grid.IdxX * br;
        int head = Grid.IdxY;
        int batch = Grid.IdxZ;
        int kvHead = head / p.QueryHeadsPerKvHead;
        int rowsHere = Math.Min(br, p.SeqLenQ - firstRow);
        int warp = Group.IdxX >> 5;
        int lane = Warp.LaneIdx;
        int warpFirstRow = firstRow + warp * 16;
        int rowLow = warpFirstRow + (lane >> 2); // this lane's rows: rowLow and rowLow + 8

        int keyEnd = p.Mask.KeyEnd(firstRow + rowsHere);
        int tiles = keyEnd > 0 ? (keyEnd + Bc - 1) / Bc : 0;
        TileCopy.Load<TTarget>(p.Q, batch, head, firstRow, rowsHere, br, dim, p.HeadDim, vectorized, shared, 0, stride);
        if (tiles > 0)
            TileCopy.Load<TTarget>(p.K, batch, kvHead, 0, Math.Min(Bc, p.SeqLenK), Bc, dim, p.HeadDim, vectorized, shared, kBase, stride);
        CpAsync.Commit<TTarget>();

        var softmax = FragmentSoftmax.Start();
        var o0 = new Tile8(); // head dims 0 .. 63
        var o1 = new Tile8(); // 64 .. 127
        var o2 = new Tile8(); // 128 .. 191
        var o3 = new Tile8(); // 192 .. 255
        for (int j = 0; j < tiles; j++)
        {
            int firstCol = j * Bc;
            CpAsync.WaitAll<TTarget>();
            Group.Barrier(); // K_j has landed; every warp is done with V_{j-1}
            TileCopy.Load<TTarget>(p.V, batch, kvHead, firstCol, Math.Min(Bc, p.SeqLenK - firstCol), Bc, dim, p.HeadDim, vectorized, shared, vBase, stride);
            CpAsync.Commit<TTarget>();

            var s = Scores<TTarget, TElement>(shared, stride, warp, kBase, dim);
            // Only tiles that cross the key sequence's end or this warp's causal diagonal need the per-element mask.
            bool applyMask = firstCol + Bc > p.SeqLenK
                || (p.Mask.Causal != 0 && firstCol + Bc - 1 > warpFirstRow + p.Mask.DiagonalOffset);
            var (alphaLow, alphaHigh) = softmax.Update(ref s, p.Mask, p.ScaleLog2, rowLow, firstCol, applyMask);
            var p0 = FragmentSoftmax.ToA<TTarget, TElement>(s.N0, s.N1);
            var p1 = FragmentSoftmax.ToA<TTarget, TElement>(s.N2, s.N3);
            var p2 = FragmentSoftmax.ToA<TTarget, TElement>(s.N4, s.N5);
            var p3 = FragmentSoftmax.ToA<TTarget, TElement>(s.N6, s.N7);

            CpAsync.WaitAll<TTarget>();
            Group.Barrier(); // V_j has landed; every warp is done with K_j
            if (j + 1 < tiles)
            {
                int next = firstCol + Bc;
                TileCopy.Load<TTarget>(p.K, batch, kvHead, next, Math.Min(Bc, p.SeqLenK - next), Bc, dim, p.HeadDim, vectorized, shared, kBase, stride);
            }
            CpAsync.Commit<TTarget>();

            AccumulatePV<TTarget, TElement>(ref o0, p0, p1, p2, p3, alphaLow, alphaHigh, shared, vBase, stride, 0, dim);
            if (dim > 64)
                AccumulatePV<TTarget, TElement>(ref o1, p0, p1, p2, p3, alphaLow, alphaHigh, shared, vBase, stride, 64, dim);
            if (dim > 128)
                AccumulatePV<TTarget, TElement>(ref o2, p0, p1, p2, p3, alphaLow, alphaHigh, shared, vBase, stride, 128, dim);
            if (dim > 192)
                AccumulatePV<TTarget, TElement>(ref o3, p0, p1, p2, p3, alphaLow, alphaHigh, shared, vBase, stride, 192, dim);
        }
        CpAsync.WaitAll<TTarget>(); // nothing may be in flight when the group exits (Q when no key tile is visible)

        var (lLow, lHigh) = softmax.RowSums();
        float invLow = lLow > 0f ? 1f / lLow : 0f;
        float invHigh = lHigh > 0f ? 1f / lHigh : 0f;
        if ((lane & 3) == 0 && p.WriteLse != 0)
        {
            WriteLse(p, batch, head, rowLow, softmax.MLow, lLow);
            WriteLse(p, batch, head, rowLow + 8, softmax.MHigh, lHigh);
        }
        var output = new FragmentOutput<TTarget, TElement>(p, batch, head, rowLow, invLow, invHigh, vectorized);
        output.Write(o0, 0, dim);
        if (dim > 64)
            output.Write(o1, 64, dim);
        if (dim > 128)
            output.Write(o2, 128, dim);
        if (dim > 192)
            output.Write(o3, 192, dim);
    }

    /// <summary>O[:, d0 .. d0 + 63] = alpha O + P V_j for one 64-dim block of the output (fewer columns where the head dim ends).</summary>
    private static void AccumulatePV<TTarget, TElement>(ref Tile8 o, in FragmentA p0, in FragmentA p1, in FragmentA p2, in FragmentA p3,
        float alphaLow, float alphaHigh, ArrayView<ushort> shared, int vBase, int stride, int d0, int dim)
        where TTarget : struct, ITensorCoreTarget
        where TElement : struct, IMmaElement
    {
        int columns = Math.Min(64, dim - d0);
        o.ScaleRows(alphaLow, alphaHigh);
        o.MultiplyAccumulate<TTarget, TElement>(p0, shared, vBase, stride, 0, d0, transposedB: true, columns);
        o.MultiplyAccumulate<TTarget, TElement>(p1, shared, vBase, stride, 16, d0, transposedB: true, columns);
        o.MultiplyAccumulate<TTarget, TElement>(p2, shared, vBase, stride, 32, d0, transposedB: true, columns);
        o.MultiplyAccumulate<TTarget, TElement>(p3, shared, vBase, stride, 48, d0, transposedB: true, columns);
    }

    /// <summary>
    /// S = Q K_j^T for the warp's 16 rows, one 16-deep step per compile-time guard: straight-line
    /// code (ILGPU does not unroll loops), so ptxas can overlap each step's ldmatrix with the
    /// previous step's mma.sync.
    /// </summary>
    private static Tile8 Scores<TTarget, TElement>(ArrayView<ushort> shared, int stride, int warp, int kBase, int dim)
        where TTarget : struct, ITensorCoreTarget
        where TElement : struct, IMmaElement
    {
        var s = new Tile8();
        ScoreStep<TTarget, TElement>(ref s, shared, stride, warp, kBase, 0);
        ScoreStep<TTarget, TElement>(ref s, shared, stride, warp, kBase, 16);
        if (dim > 32)
        {
            ScoreStep<TTarget, TElement>(ref s, shared, stride, warp, kBase, 32);
            ScoreStep<TTarget, TElement>(ref s, shared, stride, warp, kBase, 48);
        }
        if (dim > 64)
        {
            ScoreStep<TTarget, TElement>(ref s, shared, stride, warp, kBase, 64);
            ScoreStep<TTarget, TElement>(ref s, shared, stride, warp, kBase, 80);
        }
        if (dim > 96)
        {
            ScoreStep<TTarget, TElement>(ref s, shared, stride, warp, kBase, 96);
            ScoreStep<TTarget, TElement>(ref s, shared, stride, warp, kBase, 112);
        }
        if (dim > 128)
        {
            ScoreStep<TTarget, TElement>(ref s, shared, stride, warp, kBase, 128);
            ScoreStep<TTarget, TElement>(ref s, shared, stride, warp, kBase, 144);
        }
        if (dim > 160)
        {
            ScoreStep<TTarget, TElement>(ref s, shared, stride, warp, kBase, 160);
            ScoreStep<TTarget, TElement>(ref s, shared, stride, warp, kBase, 176);
        }
        if (dim > 192)
        {
            ScoreStep<TTarget, TElement>(ref s, shared, stride, warp, kBase, 192);
            ScoreStep<TTarget, TElement>(ref s, shared, stride, warp, kBase, 208);
        }
        if (dim > 224)
        {
            ScoreStep<TTarget, TElement>(ref s, shared, stride, warp, kBase, 224);
            ScoreStep<TTarget, TElement>(ref s, shared, stride, warp, kBase, 240);
        }
        return s;
    }

    private static void ScoreStep<TTarget, TElement>(ref Tile8 s, ArrayView<ushort> shared, int stride, int warp, int kBase, int k0)
        where TTarget : struct, ITensorCoreTarget
        where TElement : struct, IMmaElement =>
        s.MultiplyAccumulate<TTarget, TElement>(QFragment<TTarget>(shared, stride, warp, k0), shared, kBase, stride, 0, k0, transposedB: false);

    /// <summary>The warp's A fragment of Q for head dims k0 .. k0 + 15 (ldmatrix .x4 of the four 8 x 8 quarters).</summary>
    private static FragmentA QFragment<TTarget>(ArrayView<ushort> shared, int stride, int warp, int k0)
        where TTarget : struct, ITensorCoreTarget
    {
        int lane = Warp.LaneIdx;
        int matrix = lane >> 3;
        int row = warp * 16 + (lane & 7) + (matrix & 1) * 8;
        var f = Ldmatrix.X4<TTarget>(shared, row * stride + k0 + (matrix >> 1) * 8, transpose: false);
        return new FragmentA { A0 = f.R0, A1 = f.R1, A2 = f.R2, A3 = f.R3 };
    }

    private static void WriteLse(in ForwardParams<ushort> p, int batch, int head, int row, float m, float l)
    {
        if (row < p.SeqLenQ)
            p.Lse[((long)batch * p.HeadsQ + head) * p.SeqLenQ + row] = l > 0f ? (m + XMath.Log2(l)) * 0.693147180559945309f : float.NegativeInfinity;
    }
}
