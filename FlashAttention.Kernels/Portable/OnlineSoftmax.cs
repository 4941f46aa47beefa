using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace FlashAttention.Kernels.Portable;

/// <summary>
/// The online softmax of FlashAttention: per query row a running max m and running sum l over
/// the key tiles seen so far. Scores arrive already multiplied by scale * log2(e), so
/// exponentials are exp2. When a tile raises m, the previous sum and output are rescaled by
/// alpha = exp2(m_old - m_new).
/// </summary>
internal static class OnlineSoftmax
{
    /// <summary>Initialises m = -inf and l = 0 for every row.</summary>
    public static void Reset(ArrayView<float> m, ArrayView<float> l, int br)
    {
        for (int r = Group.IdxX; r < br; r += Group.DimX)
        {
            m[r] = float.NegativeInfinity;
            l[r] = 0f;
        }
    }

    /// <summary>
    /// Folds one tile of scores (Pt [c][r]) into m and l: masks, applies the score modifier
    /// (soft-capping, ALiBi) to the visible scores, replaces them by p = exp2(s - m_new) in place
    /// (times Z / (1 - p) under dropout, after l has taken the undropped p),
    /// and leaves alpha per row for the output rescale.
    /// </summary>
    public static void Update(
        ArrayView<float> pt, int ptStride, ArrayView<float> m, ArrayView<float> l, ArrayView<float> alpha,
        AttentionMask mask, ScoreModifier scores, Dropout dropout, int firstRow, int firstCol, int br, int bc)
    {
        for (int r = Group.IdxX; r < br; r += Group.DimX)
        {
            int i = firstRow + r;
            float mOld = m[r];
            float mNew = mOld;
            for (int c = 0; c < bc; c++)
            {
                int at = c * ptStride + r;
                int j = firstCol + c;
                if (mask.IsMasked(i, j))
                {
                    pt[at] = float.NegativeInfinity;
                }
                else
                {
                    float s = pt[at];
                    if (scores.IsActive)
                    {
                        s = scores.Apply(s, i, j);
                        pt[at] = s;
                    }
                    mNew = XMath.Max(mNew, s);
                }
            }

            // While every key so far is masked m stays -inf; exponentiating against 0 instead
            // keeps p = exp2(-inf) = 0 and alpha = 0 rather than NaN from -inf - (-inf).
            float mSafe = mNew == float.NegativeInfinity ? 0f : mNew;
            float sum = 0f;
            var block = default(Philox.Words);
            for (int c = 0; c < bc; c++)
            {
                int at = c * ptStride + r;
                float p = XMath.Exp2(pt[at] - mSafe);
                // l sums the undropped P (FlashAttention-2's statistics); only P V sees the mask.
                sum += p;
                if (dropout.Enabled != 0)
                {
                    // This thread walks the row's keys in order: one Philox block serves four keys.
                    int j = firstCol + c;
                    if (c == 0 || (j & 3) == 0)
                        block = dropout.Block(i, j);
                    p *= dropout.FactorOf(block, j);
                }
                pt[at] = p;
            }

            float a = XMath.Exp2(mOld - mSafe);
            alpha[r] = a;
            m[r] = mNew;
            l[r] = l[r] * a + sum;
        }
    }
}
