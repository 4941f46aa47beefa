using FlashAttention.Kernels.Numerics;
using FlashAttention.Kernels.Portable;
using ILGPU.Algorithms;

namespace FlashAttention.Kernels.TensorCore;

/// <summary>
/// The tensor-core forward (FlashAttention-2's design), fp16 (raw bits as ushort): 4 warps per
/// group, each owning 16 of the group's 64 query rows; Q, K, V tiles (64 x d, rows padded by 8
/// elements) in dynamic shared memory; S = Q K^T and O += P V on mma.sync m16n8k16 with operands
/// from ldmatrix; the online softmax on the accumulator fragments; P kept in registers.
/// Head dim 64 or 128 (the TDim of <see cref="Run{TDim}"/>). Work in progress (issue 5): tiles are loaded
/// element by element (no cp.async pipeline yet) and it has run on the CPU accelerator only.
/// Grid = (ceil(seqlen_q / 64), heads_q, batch), 128 threads, <see cref="SharedElements"/> ushorts of shared memory.
/// </summary>
public static class TensorCoreForwardKernel
{
    /// <summary>Query rows per group (4 warps x 16).</summary>
    public const int Br = 64;

    /// <summary>Keys per tile.</summary>
    public const int Bc = 64;

    /// <summary>Threads per group.</summary>
    public const int Threads = 128;

    /// <summary>Row length of the shared tiles: 8 elements (16 bytes) of padding keep ldmatrix rows on distinct banks.</summary>
    public static int Stride(int dim) => dim + 8;

    /// <summary>Shared-memory elements (ushort) of one group.</summary>
    public static int SharedElements(int dim) => (Br + 2 * Bc) * Stride(dim);

    /// <summary>The kernel body.</summary>
    public static void Run<TDim>(ForwardParams<ushort> p) where TDim : struct, IConstant
    {
        int dim = default(TDim).Value;
        int stride = Stride(dim);
        var shared = SharedMemory.GetDynamic<ushort>();
        int kBase = Br * stride;
        int vBase = kBase + Bc * stride;

        int firstRow = Grid.IdxX * Br;
        int head = Grid.IdxY;
        int batch = Grid.IdxZ;
        int kvHead = head / p.QueryHeadsPerKvHead;
        int rowsHere = Math.Min(Br, p.SeqLenQ - firstRow);
        int warp = Group.IdxX >> 5;
        int lane = Warp.LaneIdx;
        int rowLow = firstRow + warp * 16 + (lane >> 2); // this lane's rows: rowLow and rowLow + 8

        LoadTile(p.Q, batch, head, firstRow, rowsHere, p.HeadDim, dim, shared, 0, stride);
        var softmax = FragmentSoftmax.Start();
        var oLow = new Tile8();   // dims 0 .. 63
        var oHigh = new Tile8();  // dims 64 .. 127 (head dim 128)

        int keyEnd = p.Mask.KeyEnd(firstRow + rowsHere);
        for (int firstCol = 0; firstCol < keyEnd; firstCol += Bc)
        {
            int colsHere = Math.Min(Bc, p.SeqLenK - firstCol);
            Group.Barrier(); // every warp is done with the previous K and V
            LoadTile(p.K, batch, kvHead, firstCol, colsHere, p.HeadDim, dim, shared, kBase, stride);
            LoadTile(p.V, batch, kvHead, firstCol, colsHere, p.HeadDim, dim, shared, vBase, stride);
            Group.Barrier();

            var s = new Tile8();
            for (int k0 = 0; k0 < dim; k0 += 16)
                s.MultiplyAccumulate(QFragment(shared, stride, warp, k0), shared, kBase, stride, 0, k0, transposedB: false);

            var (alphaLow, alphaHigh) = softmax.Update(ref s, p.Mask, p.ScaleLog2, rowLow, firstCol);
            oLow.ScaleRows(alphaLow, alphaHigh);
            oLow.MultiplyAccumulate(FragmentSoftmax.ToA(s.N0, s.N1), shared, vBase, stride, 0, 0, transposedB: true);
            oLow.MultiplyAccumulate(FragmentSoftmax.ToA(s.N2, s.N3), shared, vBase, stride, 16, 0, transposedB: true);
            oLow.MultiplyAccumulate(FragmentSoftmax.ToA(s.N4, s.N5), shared, vBase, stride, 32, 0, transposedB: true);
            oLow.MultiplyAccumulate(FragmentSoftmax.ToA(s.N6, s.N7), shared, vBase, stride, 48, 0, transposedB: true);
            if (dim > 64)
            {
                oHigh.ScaleRows(alphaLow, alphaHigh);
                oHigh.MultiplyAccumulate(FragmentSoftmax.ToA(s.N0, s.N1), shared, vBase, stride, 0, 64, transposedB: true);
                oHigh.MultiplyAccumulate(FragmentSoftmax.ToA(s.N2, s.N3), shared, vBase, stride, 16, 64, transposedB: true);
                oHigh.MultiplyAccumulate(FragmentSoftmax.ToA(s.N4, s.N5), shared, vBase, stride, 32, 64, transposedB: true);
                oHigh.MultiplyAccumulate(FragmentSoftmax.ToA(s.N6, s.N7), shared, vBase, stride, 48, 64, transposedB: true);
            }
        }

        var (lLow, lHigh) = softmax.RowSums();
        float invLow = lLow > 0f ? 1f / lLow : 0f;
        float invHigh = lHigh > 0f ? 1f / lHigh : 0f;
        if ((lane & 3) == 0 && p.WriteLse != 0)
        {
            WriteLse(p, batch, head, rowLow, softmax.MLow, lLow);
            WriteLse(p, batch, head, rowLow + 8, softmax.MHigh, lHigh);
        }
        WriteOutput(p, oLow, batch, head, rowLow, 0, invLow, invHigh);
        if (dim > 64)
            WriteOutput(p, oHigh, batch, head, rowLow, 64, invLow, invHigh);
    }

    /// <summary>The warp's A fragment of Q for head dims k0 .. k0 + 15 (ldmatrix .x4 of the four 8 x 8 quarters).</summary>
    private static FragmentA QFragment(ArrayView<ushort> shared, int stride, int warp, int k0)
    {
        int lane = Warp.LaneIdx;
        int matrix = lane >> 3;
        int row = warp * 16 + (lane & 7) + (matrix & 1) * 8;
        var f = Ldmatrix.X4(shared, row * stride + k0 + (matrix >> 1) * 8, transpose: false);
        return new FragmentA { A0 = f.R0, A1 = f.R1, A2 = f.R2, A3 = f.R3 };
    }

    /// <summary>Copies a [rows, dim] tile of 16-bit elements into shared memory, zero-filling rows past the sequence and dims past the head dim.</summary>
    private static void LoadTile(StridedTensor<ushort> src, int batch, int head, int row0, int validRows, int headDim, int dim,
        ArrayView<ushort> shared, int baseOffset, int stride)
    {
        for (int idx = Group.IdxX; idx < Br * dim; idx += Group.DimX)
        {
            int r = idx / dim;
            int d = idx - r * dim;
            shared[baseOffset + r * stride + d] = r < validRows && d < headDim ? src.Data[src.RowOffset(batch, row0 + r, head) + d] : (ushort)0;
        }
    }

    private static void WriteLse(in ForwardParams<ushort> p, int batch, int head, int row, float m, float l)
    {
        if (row < p.SeqLenQ)
            p.Lse[((long)batch * p.HeadsQ + head) * p.SeqLenQ + row] = l > 0f ? (m + XMath.Log2(l)) * 0.693147180559945309f : float.NegativeInfinity;
    }

    private static void WriteOutput(in ForwardParams<ushort> p, in Tile8 o, int batch, int head, int rowLow, int dim0, float invLow, float invHigh)
    {
        int d = dim0 + 2 * (Warp.LaneIdx & 3);
        WriteTile(p, o.N0, batch, head, rowLow, d, invLow, invHigh);
        WriteTile(p, o.N1, batch, head, rowLow, d + 8, invLow, invHigh);
        WriteTile(p, o.N2, batch, head, rowLow, d + 16, invLow, invHigh);
        WriteTile(p, o.N3, batch, head, rowLow, d + 24, invLow, invHigh);
        WriteTile(p, o.N4, batch, head, rowLow, d + 32, invLow, invHigh);
        WriteTile(p, o.N5, batch, head, rowLow, d + 40, invLow, invHigh);
        WriteTile(p, o.N6, batch, head, rowLow, d + 48, invLow, invHigh);
        WriteTile(p, o.N7, batch, head, rowLow, d + 56, invLow, invHigh);
    }

    private static void WriteTile(in ForwardParams<ushort> p, in FragmentC c, int batch, int head, int rowLow, int d, float invLow, float invHigh)
    {
        Write(p, batch, head, rowLow, d, c.C0 * invLow);
        Write(p, batch, head, rowLow, d + 1, c.C1 * invLow);
        Write(p, batch, head, rowLow + 8, d, c.C2 * invHigh);
        Write(p, batch, head, rowLow + 8, d + 1, c.C3 * invHigh);
    }

    private static void Write(in ForwardParams<ushort> p, int batch, int head, int row, int d, float value)
    {
        if (row < p.SeqLenQ && d < p.HeadDim)
            p.O.Data[p.O.RowOffset(batch, row, head) + d] = default(Float16BitsOps).FromFloat(value);
    }
}
