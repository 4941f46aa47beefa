using ILGPU.Algorithms;

namespace FlashAttention.Kernels.Portable;

/// <summary>The end of the online softmax: each row's LSE, and 1/l for the output.</summary>
internal static class RowStatistics
{
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
}
