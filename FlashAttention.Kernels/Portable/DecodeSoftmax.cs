using ILGPU.Algorithms;

namespace FlashAttention.Kernels.Portable;

/// <summary>
/// The online softmax of one decode tile, with each row's keys spread over a team of threads
/// (threads / padded rows: 32 for 4 rows). A group holds only a few rows, so a thread per row
/// (the forward's <see cref="OnlineSoftmax"/>) would leave most of the group idle through two
/// serial passes over the tile, as long as the tile's memory time. Three steps around the
/// kernel's barriers: partial maxima; then the new m, p = exp2(s - m) in place, partial sums, alpha;
/// then, after the tile, l = alpha l + Σ partial sums and m taken over.
/// </summary>
internal static class DecodeSoftmax
{
    /// <summary>
    /// Step 1: each team thread's max over its keys of the tile (-inf for none). With the head dim split
    /// between threads (<paramref name="dimParts"/> &gt; 1) it first adds the partial scores [part][row][bc] into P.
    /// </summary>
    public static void PartialMax(ArrayView<float> ps, int pStride, ArrayView<float> parts, int dimParts, int bc,
        ArrayView<float> redMax, int rowsPadded, int cols)
    {
        int team = Group.DimX / rowsPadded;
        int r = Group.IdxX / team;
        int lane = Group.IdxX - r * team;
        if (r >= rowsPadded)
            return;
        float max = float.NegativeInfinity;
        for (int c = lane; c < cols; c += team)
        {
            float s;
            if (dimParts == 1)
            {
                s = ps[r * pStride + c];
            }
            else
            {
                s = 0f;
                for (int k = 0; k < dimParts; k++)
                    s += parts[(k * rowsPadded + r) * bc + c];
                ps[r * pStride + c] = s;
            }
            max = XMath.Max(max, s);
        }
        redMax[Group.IdxX] = max;
    }

    /// <summary>
    /// Step 2 (after a barrier): the row's new max from m and the partial maxima, P replaced by
    /// p = exp2(s - m_new), partial sums; the team's first thread leaves alpha = exp2(m_old - m_new)
    /// and m_new (in <paramref name="mNext"/>: m itself is still being read by the team).
    /// Rows past the group's rows hold -inf scores, so they get p = 0 and alpha = 0 on an all-zero accumulator.
    /// </summary>
    public static void Exponentiate(ArrayView<float> ps, int pStride, ArrayView<float> m, ArrayView<float> mNext, ArrayView<float> alpha,
        ArrayView<float> redMax, ArrayView<float> redSum, int rowsPadded, int cols)
    {
        int team = Group.DimX / rowsPadded;
        int r = Group.IdxX / team;
        int lane = Group.IdxX - r * team;
        if (r >= rowsPadded)
            return;
        float mOld = m[r];
        float mNew = mOld;
        for (int t = 0; t < team; t++)
            mNew = XMath.Max(mNew, redMax[r * team + t]);
        // While every key so far is masked m stays -inf: exponentiate against 0 so p = 0 and alpha = 0, not NaN.
        float mSafe = mNew == float.NegativeInfinity ? 0f : mNew;
        float sum = 0f;
        for (int c = lane; c < cols; c += team)
        {
            float e = XMath.Exp2(ps[r * pStride + c] - mSafe);
            ps[r * pStride + c] = e;
            sum += e;
        }
        redSum[Group.IdxX] = sum;
        if (lane == 0)
        {
            alpha[r] = XMath.Exp2(mOld - mSafe);
            mNext[r] = mNew;
        }
    }

    /// <summary>Step 3 (after the next barrier, by threads 0 .. padded rows - 1): l = alpha l + Σ partial sums; m = m_new.</summary>
    public static void Commit(ArrayView<float> m, ArrayView<float> mNext, ArrayView<float> l, ArrayView<float> alpha,
        ArrayView<float> redSum, int rowsPadded)
    {
        int r = Group.IdxX;
        if (r >= rowsPadded)
            return;
        int team = Group.DimX / rowsPadded;
        float sum = 0f;
        for (int t = 0; t < team; t++)
            sum += redSum[r * team + t];
        l[r] = l[r] * alpha[r] + sum;
        m[r] = mNext[r];
    }
}
