namespace FlashAttention.Tests.Support;

/// <summary>
/// Attention computed the naive way in the input precision, as FlashAttention's tests do with
/// PyTorch (attention_ref with upcast=False): scores rounded to the element type, softmax in
/// float32 rounded to the element type, P V accumulated in float32 and rounded. Its error against
/// the float64 reference sets the bar for the kernel's error.
/// </summary>
public static class NaiveAttention
{
    /// <summary>Output [batch, seqlen_q, heads_q, headdim] and natural-log LSE [batch, heads_q, seqlen_q], as float64 arrays.</summary>
    /// <param name="variants">Window, soft cap and ALiBi slopes to apply (<see cref="NaiveLogits"/>); null for none.</param>
    public static (double[] Output, double[] Lse) Forward<T>(HostTensor<T> q, HostTensor<T> k, HostTensor<T> v, float scale, bool causal,
        AttentionOptions? variants = null)
        where T : unmanaged
    {
        var logits = new NaiveLogits(variants, q.Layout.Heads);
        var (ql, kl) = (q.Layout, k.Layout);
        int batch = ql.Batch, nq = ql.SeqLen, nk = kl.SeqLen, hq = ql.Heads, dim = ql.HeadDim;
        int group = hq / kl.Heads;
        var output = new double[(long)batch * nq * hq * dim];
        var lse = new double[(long)batch * hq * nq];
        var s = new float[nk];
        var acc = new float[dim];
        for (int b = 0; b < batch; b++)
        for (int h = 0; h < hq; h++)
        for (int i = 0; i < nq; i++)
        {
            int hk = h / group;
            float max = float.NegativeInfinity;
            for (int j = 0; j < nk; j++)
            {
                if (!logits.Visible(i, j, nq, nk, causal))
                {
                    s[j] = float.NegativeInfinity;
                    continue;
                }
                float dot = 0;
                for (int d = 0; d < dim; d++)
                    dot += Elements.ToSingle(q[b, i, h, d]) * Elements.ToSingle(k[b, j, hk, d]);
                s[j] = logits.Logit<T>(Round<T>(dot * scale), b, h, i, j, nq, nk);
                max = MathF.Max(max, s[j]);
            }
            long lseAt = ((long)b * hq + h) * nq + i;
            if (float.IsNegativeInfinity(max))
            {
                lse[lseAt] = double.NegativeInfinity;
                continue;
            }
            float sum = 0;
            for (int j = 0; j < nk; j++)
                sum += MathF.Exp(s[j] - max);
            lse[lseAt] = max + MathF.Log(sum);
            Array.Clear(acc);
            for (int j = 0; j < nk; j++)
            {
                float p = Round<T>(Round<T>(MathF.Exp(s[j] - max) / sum) * logits.DropFactor<T>(b, h, i, j));
                for (int d = 0; d < dim; d++)
                    acc[d] += p * Elements.ToSingle(v[b, j, hk, d]);
            }
            long row = (((long)b * nq + i) * hq + h) * dim;
            for (int d = 0; d < dim; d++)
                output[row + d] = Round<T>(acc[d]);
        }
        return (output, lse);
    }

    private static float Round<T>(float x) where T : unmanaged => Elements.ToSingle(Elements.FromSingle<T>(x));
}
