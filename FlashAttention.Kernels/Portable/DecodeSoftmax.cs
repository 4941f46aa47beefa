using ILGPU.Algorithms;

namespace FlashAttention.Kernels.Portable;

/// <summary>
/// The online softmax of one decode tile, with each row's keys spread over a team of threads
/// (<see cref="Team"/>: 32 for 4 rows). A group holds only a few rows, so a thread per row
/// (the forward's <see cref="OnlineSoftmax"/>) would leave most of the group idle through two
/// serial passes over the tile, as long as the tile's memory time. Three steps around the
/// kernel's barriers: raw scores summed into P and partial maxima; then the new m, p = exp2(s - m)
/// in place, partial sums, alpha; then, after the tile, l = alpha l + Σ partial sums and m taken over.
/// Thread t works on row t % rows, so consecutive threads touch consecutive floats of the key-major P;
/// the per-thread partials are stored [lane / 4][row][lane % 4] so a row's team values are read back
/// four at a time (16-byte loads), with the rows of a warp side by side.
/// </summary>
internal static class DecodeSoftmax
{
    /// <summary>Threads per row: threads / rows, rounded down to a multiple of 4 (the 16-byte partial reads); threads past rows * team idle here.</summary>
    public static int Team(int threads, int rows) => threads / rows / 4 * 4;

    /// <summary>Where thread (row, lane) keeps its partial max or sum.</summary>
    private static int Slot(int row, int lane, int rows) => ((lane >> 2) * rows + row) * 4 + (lane & 3);

    /// <summary>
    /// Step 1: P [c][rows] = Σ over the <paramref name="dimParts"/> head-dim parts of the raw scores
    /// [part][c][rows] (masked: -inf from part 0, 0 from the others), and each team thread's max over
    /// its keys of the tile (-inf for none).
    /// </summary>
    public static void PartialMax(ArrayView<float> ps, ArrayView<float> parts, int dimParts, int bc,
        ArrayView<float> redMax, int rows, int threads, int cols)
    {
        int team = Team(threads, rows);
        int lane = Group.IdxX / rows;
        int r = Group.IdxX - lane * rows;
        if (lane >= team)
            return;
        float max = float.NegativeInfinity;
        for (int c = lane; c < cols; c += team)
        {
            int at = c * rows + r;
            float s = parts[at];
            for (int k = 1; k < dimParts; k++)
                s += parts[k * bc * rows + at];
            ps[at] = s;
            max = XMath.Max(max, s);
        }
        redMax[Slot(r, lane, rows)] = max;
    }

    /// <summary>
    /// Step 2 (after a barrier): the row's new max from m and the partial maxima, P replaced by
    /// p = exp2(s - m_new), partial sums; the team's first thread leaves alpha = exp2(m_old - m_new)
    /// and m_new (in <paramref name="mNext"/>: m itself is still being read by the team).
    /// Rows past the group's rows hold -inf scores, so they get p = 0 and alpha = 0 on an all-zero accumulator.
    /// </summary>
    public static void Exponentiate(ArrayView<float> ps, ArrayView<float> m, ArrayView<float> mNext, ArrayView<float> alpha,
        ArrayView<float> redMax, ArrayView<float> redSum, int rows, int threads, int cols)
    {
        int team = Team(threads, rows);
        int lane = Group.IdxX / rows;
        int r = Group.IdxX - lane * rows;
        if (lane >= team)
            return;
        float mOld = m[r];
        float mNew = mOld;
        for (int t = 0; t < team; t += 4)
        {
            var part = Float4.Load(redMax, (t * rows + r * 4));
            mNew = XMath.Max(XMath.Max(mNew, part.X), XMath.Max(part.Y, XMath.Max(part.Z, part.W)));
        }
        // While every key so far is masked m stays -inf: exponentiate against 0 so p = 0 and alpha = 0, not NaN.
        float mSafe = mNew == float.NegativeInfinity ? 0f : mNew;
        float sum = 0f;
        for (int c = lane; c < cols; c += team)
        {
            float e = XMath.Exp2(ps[c * rows + r] - mSafe);
            ps[c * rows + r] = e;
            sum += e;
        }
        redSum[Slot(r, lane, rows)] = sum;
        if (lane == 0)
        {
            alpha[r] = XMath.Exp2(mOld - mSafe);
            mNext[r] = mNew;
        }
    }

    /// <summary>Step 3 (after the next barrier, by threads 0 .. rows - 1): l = alpha l + Σ partial sums; m = m_new.</summary>
    public static void Commit(ArrayView<float> m, ArrayView<float> mNext, ArrayView<float> l, ArrayView<float> alpha,
        ArrayView<float> redSum, int rows, int threads)
    {
        int r = Group.IdxX;
        if (r >= rows)
            return;
        int team = Team(threads, rows);
        float sum = 0f;
        for (int t = 0; t < team; t += 4)
        {
            var part = Float4.Load(redSum, t * rows + r * 4);
            sum += (part.X + part.Y) + (part.Z + part.W);
        }
        l[r] = l[r] * alpha[r] + sum;
        m[r] = mNext[r];
    }
}
