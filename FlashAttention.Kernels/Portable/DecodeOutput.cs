using FlashAttention.Kernels.Numerics;
using ILGPU.Algorithms;

namespace FlashAttention.Kernels.Portable;

/// <summary>
/// The end of a decode group: sums the key slices' partial outputs, divides by l, and writes either
/// the final O and LSE (one split) or this split's O_i and LSE_i for the merge. A row that saw no key
/// (l = 0: an empty split, a causal row before the first key, an empty cache) writes O = 0 and LSE = -inf.
/// </summary>
internal static class DecodeOutput
{
    public static void Write<T, TOps>(in DecodeParams<T> p, ArrayView<float> partials, ArrayView<float> m, ArrayView<float> l,
        int split, int batch, int kvHead, int firstRow, int rows, int rowsPadded, int slices, int dim)
        where T : unmanaged
        where TOps : struct, IElementOps<T>
    {
        int dim4 = dim / 4;
        long rowsTotal = (long)Grid.DimZ * p.HeadsQ * p.SeqLenQ;
        for (int idx = Group.IdxX; idx < rows * dim4; idx += Group.DimX)
        {
            int r = idx / dim4;
            int d = (idx - r * dim4) * 4;
            if (d >= p.HeadDim)
                continue;
            var o = default(Float4);
            for (int s = 0; s < slices; s++)
                o = Float4.Add(o, Float4.Load(partials, (s * rowsPadded + r) * dim + d));
            float sum = l[r];
            o = Float4.Scale(o, sum > 0f ? 1f / sum : 0f);
            Row(p, kvHead, firstRow + r, out int head, out int query);
            if (p.NumSplits == 1)
            {
                long at = p.O.RowOffset(batch, query, head) + d;
                Store<T, TOps>(p.O.Data, at, d, p.HeadDim, o);
            }
            else
            {
                long at = ((long)split * rowsTotal + ((long)batch * p.HeadsQ + head) * p.SeqLenQ + query) * p.HeadDim + d;
                Store<float, Float32Ops>(p.OPartial, at, d, p.HeadDim, o);
            }
        }

        for (int r = Group.IdxX; r < rows; r += Group.DimX)
        {
            float sum = l[r];
            float lse = sum > 0f ? (m[r] + XMath.Log2(sum)) * 0.693147180559945309f : float.NegativeInfinity;
            Row(p, kvHead, firstRow + r, out int head, out int query);
            long lseAt = ((long)batch * p.HeadsQ + head) * p.SeqLenQ + query;
            if (p.NumSplits != 1)
                p.LsePartial[split * rowsTotal + lseAt] = lse;
            else if (p.WriteLse != 0)
                p.Lse[lseAt] = lse;
        }
    }

    /// <summary>Group row g of kv head <paramref name="kvHead"/>: query head and query position (rows run head-major).</summary>
    internal static void Row<T>(in DecodeParams<T> p, int kvHead, int g, out int head, out int query)
        where T : unmanaged
    {
        int hLocal = g / p.SeqLenQ;
        query = g - hLocal * p.SeqLenQ;
        head = kvHead * p.QueryHeadsPerKvHead + hLocal;
    }

    /// <summary>Writes the first min(4, headDim - d) values of <paramref name="o"/> at <paramref name="at"/>.</summary>
    internal static void Store<TE, TEOps>(ArrayView<TE> dst, long at, int d, int headDim, Float4 o)
        where TE : unmanaged
        where TEOps : struct, IElementOps<TE>
    {
        dst[at] = default(TEOps).FromFloat(o.X);
        if (d + 1 < headDim) dst[at + 1] = default(TEOps).FromFloat(o.Y);
        if (d + 2 < headDim) dst[at + 2] = default(TEOps).FromFloat(o.Z);
        if (d + 3 < headDim) dst[at + 3] = default(TEOps).FromFloat(o.W);
    }
}
