using FlashAttention.Kernels.Numerics;
using ILGPU.Algorithms;

namespace FlashAttention.Kernels.Portable;

/// <summary>
/// One thread's share of the online softmax in <see cref="ParallelForwardKernel"/>: thread t owns
/// query row R = t mod Br and the runs of four keys 4k .. 4k + 3 with k ≡ Part (mod ThreadsPerRow) of
/// every tile (runs, so that one dropout Philox block serves four keys), where
/// Part = t / Br and ThreadsPerRow = threads / Br, so every thread of the group works on the
/// softmax (v3 ran it on Br threads only). The row max is combined through one shared slot per
/// thread; every thread of a row then holds the same running max M (computed identically) and
/// its own partial running sum L, rescaled by the same alpha, so the row's sum is only needed at
/// the end (<see cref="Finish"/>). No warp-level operations: OpenCL devices run this body too.
/// </summary>
internal struct SoftmaxRowShare
{
    /// <summary>Query row within the tile.</summary>
    public int R;

    /// <summary>Which of the row's threads this is (0 .. ThreadsPerRow - 1).</summary>
    public int Part;

    /// <summary>Running row max (log2 domain), the same in every thread of the row.</summary>
    public float M;

    /// <summary>This thread's part of the running row sum.</summary>
    public float L;

    /// <summary>The share of thread <paramref name="thread"/>: m = -inf, l = 0.</summary>
    public static SoftmaxRowShare ForThread(int thread, int br)
    {
        int part = thread / br;
        return new SoftmaxRowShare { R = thread - part * br, Part = part, M = float.NegativeInfinity, L = 0f };
    }

    /// <summary>
    /// Sums the score slices of this thread's keys into slice 0 (masked keys become -inf, visible
    /// ones pass through the score modifier) and leaves the maximum over them in
    /// <paramref name="reduce"/>[Part * Br + R]. A barrier must follow before <see cref="Exponentiate"/>.
    /// </summary>
    public readonly void PartialMax(
        ArrayView<float> pt, int ptStride, int sliceFloats, int splits, ArrayView<float> reduce,
        AttentionMask mask, ScoreModifier scores, int firstRow, int firstCol, int br, int bc, int threadsPerRow)
    {
        int i = firstRow + R;
        float partMax = float.NegativeInfinity;
        for (int c0 = Part * 4; c0 < bc; c0 += threadsPerRow * 4)
        for (int c = c0; c < c0 + 4 && c < bc; c++)
        {
            int at = c * ptStride + R;
            int j = firstCol + c;
            float s = pt[at];
            for (int k = 1; k < splits; k++)
                s += pt[k * sliceFloats + at];
            if (mask.IsMasked(i, j))
                s = float.NegativeInfinity;
            else if (scores.IsActive)
                s = scores.Apply(s, i, j);
            if (splits > 1 || scores.IsActive || s == float.NegativeInfinity)
                pt[at] = s;
            partMax = XMath.Max(partMax, s);
        }
        reduce[Part * br + R] = partMax;
    }

    /// <summary>
    /// Takes the row max over the partial maxima, replaces this thread's scores by
    /// p = exp2(s - m_new) (times Z / (1 - p) under dropout), folds the undropped ones into L and (thread 0 of the row) writes alpha = exp2(m_old - m_new).
    /// </summary>
    public void Exponentiate(
        ArrayView<float> pt, int ptStride, ArrayView<float> reduce, ArrayView<float> alpha, int br, int bc, int threadsPerRow,
        Dropout dropout, int firstRow, int firstCol)
    {
        float mNew = M;
        for (int k = 0; k < threadsPerRow; k++)
            mNew = XMath.Max(mNew, reduce[k * br + R]);

        // While every key so far is masked m stays -inf; exponentiating against 0 instead
        // keeps p = exp2(-inf) = 0 and alpha = 0 rather than NaN from -inf - (-inf).
        float mSafe = mNew == float.NegativeInfinity ? 0f : mNew;
        float sum = 0f;
        var block = default(Philox.Words);
        for (int c0 = Part * 4; c0 < bc; c0 += threadsPerRow * 4)
        for (int c = c0; c < c0 + 4 && c < bc; c++)
        {
            int at = c * ptStride + R;
            float p = XMath.Exp2(pt[at] - mSafe);
            // L sums the undropped P (FlashAttention-2's statistics); only P V sees the mask.
            sum += p;
            if (dropout.Enabled != 0)
            {
                // Each thread owns runs of four neighbouring keys: one Philox block serves a run.
                int j = firstCol + c;
                if (c == c0 || (j & 3) == 0)
                    block = dropout.Block(firstRow + R, j);
                p *= dropout.FactorOf(block, j);
            }
            pt[at] = p;
        }

        float a = XMath.Exp2(M - mSafe);
        if (Part == 0)
            alpha[R] = a;
        M = mNew;
        L = L * a + sum;
    }

    /// <summary>
    /// Every thread of the group calls this after the key loop (it holds barriers): adds up the
    /// row sums, writes LSE = (m + log2 l) * ln 2 and leaves 1/l in <paramref name="invL"/>. A row
    /// that saw no key (l = 0) gets LSE = -inf and 1/l = 0, so its output is 0, not NaN.
    /// </summary>
    public readonly void Finish<T>(
        in ForwardParams<T> p, ArrayView<float> reduce, ArrayView<float> invL,
        int batch, int head, int firstRow, int br, int threadsPerRow)
        where T : unmanaged
    {
        Group.Barrier(); // the last tile's readers of reduce and alpha are done
        reduce[Part * br + R] = L;
        Group.Barrier();
        if (Part == 0)
        {
            float sum = 0f;
            for (int k = 0; k < threadsPerRow; k++)
                sum += reduce[k * br + R];
            invL[R] = sum > 0f ? 1f / sum : 0f;
            int i = firstRow + R;
            if (p.WriteLse != 0 && i < p.SeqLenQ)
            {
                long at = ((long)batch * p.HeadsQ + head) * p.SeqLenQ + i;
                p.Lse[at] = sum > 0f ? (M + XMath.Log2(sum)) * 0.693147180559945309f : float.NegativeInfinity;
            }
        }
        Group.Barrier();
    }
}
