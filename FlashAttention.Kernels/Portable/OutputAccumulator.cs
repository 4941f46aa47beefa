using FlashAttention.Kernels.Numerics;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace FlashAttention.Kernels.Portable;

/// <summary>The output accumulator acc [Br][headdim] in shared memory: P V products, then the final write of O and LSE.</summary>
internal static class OutputAccumulator
{
    /// <summary>Sets acc to zero.</summary>
    public static void Clear(ArrayView<float> acc, int count)
    {
        for (int idx = Group.IdxX; idx < count; idx += Group.DimX)
            acc[idx] = 0f;
    }

    /// <summary>acc = acc * alpha (per row) + P V for one key tile; P is Pt [c][r], V is [c][d].</summary>
    public static void AccumulatePV(
        ArrayView<float> acc, ArrayView<float> alpha, ArrayView<float> pt, int ptStride,
        ArrayView<float> v, int br, int bc, int dimPadded)
    {
        int blocksPerRow = dimPadded / 4;
        for (int t = Group.IdxX; t < (br / 4) * blocksPerRow; t += Group.DimX)
        {
            int r0 = (t / blocksPerRow) * 4;
            int d0 = (t - (t / blocksPerRow) * blocksPerRow) * 4;
            int at = r0 * dimPadded + d0;
            var o = MicroTile4x4.Load(acc, at, dimPadded);
            o.ScaleRows(alpha[r0], alpha[r0 + 1], alpha[r0 + 2], alpha[r0 + 3]);
            for (int c = 0; c < bc; c++)
                o.AccumulateOuter(pt, c * ptStride + r0, v, c * dimPadded + d0);
            o.Store(acc, at, dimPadded);
        }
    }

    /// <summary>
    /// Writes LSE = (m + log2 l) * ln 2 per row and leaves 1/l in <paramref name="invL"/>.
    /// A row that saw no key (l = 0) gets LSE = -inf and 1/l = 0, so its output is 0, not NaN.
    /// </summary>
    public static void FinishRows<T>(
        in ForwardParams<T> p, ArrayView<float> m, ArrayView<float> l, ArrayView<float> invL,
        int batch, int head, int firstRow, int br)
        where T : unmanaged
    {
        for (int r = Group.IdxX; r < br; r += Group.DimX)
        {
            float sum = l[r];
            invL[r] = sum > 0f ? 1f / sum : 0f;
            int i = firstRow + r;
            if (p.WriteLse != 0 && i < p.SeqLenQ)
            {
                long at = ((long)batch * p.HeadsQ + head) * p.SeqLenQ + i;
                p.Lse[at] = sum > 0f ? (m[r] + XMath.Log2(sum)) * 0.693147180559945309f : float.NegativeInfinity;
            }
        }
    }

    /// <summary>O = acc / l, converted to the storage type, for the rows inside the sequence.</summary>
    public static void WriteOutput<T, TOps>(
        in ForwardParams<T> p, ArrayView<float> acc, ArrayView<float> invL,
        int batch, int head, int firstRow, int br, int dimPadded)
        where T : unmanaged
        where TOps : struct, IElementOps<T>
    {
        for (int idx = Group.IdxX; idx < br * dimPadded; idx += Group.DimX)
        {
            int r = idx / dimPadded;
            int d = idx - r * dimPadded;
            int i = firstRow + r;
            if (i < p.SeqLenQ && d < p.HeadDim)
                p.O.Data[p.O.RowOffset(batch, i, head) + d] = default(TOps).FromFloat(acc[idx] * invL[r]);
        }
    }
}
