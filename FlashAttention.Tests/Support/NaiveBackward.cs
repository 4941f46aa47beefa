namespace FlashAttention.Tests.Support;

/// <summary>
/// The backward of naive attention in the input precision, as autograd computes it in FlashAttention's
/// tests with upcast=False: every matrix product accumulates in float32 and is rounded to the
/// element type, as are the probabilities. Its error against the float64 reference sets the bar.
/// </summary>
public static class NaiveBackward
{
    /// <summary>dQ, dK, dV as float64 arrays, contiguous [batch, seqlen, heads, headdim].</summary>
    /// <param name="variants">Window, soft cap and ALiBi slopes to apply (<see cref="NaiveLogits"/>); null for none.</param>
    public static (double[] DQ, double[] DK, double[] DV) Run<T>(HostTensor<T> dOut, HostTensor<T> q, HostTensor<T> k, HostTensor<T> v,
        float scale, bool causal, AttentionOptions? variants = null) where T : unmanaged
    {
        var logits = new NaiveLogits(variants, q.Layout.Heads);
        var (ql, kl) = (q.Layout, k.Layout);
        int batch = ql.Batch, nq = ql.SeqLen, nk = kl.SeqLen, hq = ql.Heads, hkv = kl.Heads, dim = ql.HeadDim;
        int group = hq / hkv;
        var dq = new float[(long)batch * nq * hq * dim];
        var dk = new float[(long)batch * nk * hkv * dim];
        var dv = new float[(long)batch * nk * hkv * dim];
        for (int b = 0; b < batch; b++)
        for (int h = 0; h < hq; h++)
        {
            int hk = h / group;
            var p = new float[nq, nk];
            var ds = new float[nq, nk];
            var pz = new float[nq, nk]; // the dropped P that multiplied V (P itself without dropout)
            for (int i = 0; i < nq; i++)
            {
                var s = new float[nk];
                var slope = new float[nk];
                float max = float.NegativeInfinity;
                for (int j = 0; j < nk; j++)
                {
                    if (!logits.Visible(i, j, nq, nk, causal)) { s[j] = float.NegativeInfinity; continue; }
                    float dot = 0;
                    for (int d = 0; d < dim; d++)
                        dot += F(q[b, i, h, d]) * F(k[b, j, hk, d]);
                    float scaled = R<T>(dot * scale);
                    s[j] = logits.Logit<T>(scaled, b, h, i, j, nq, nk);
                    slope[j] = logits.Slope<T>(scaled);
                    max = MathF.Max(max, s[j]);
                }
                if (float.IsNegativeInfinity(max))
                    continue;
                float sum = 0;
                for (int j = 0; j < nk; j++) sum += MathF.Exp(s[j] - max);
                var dp = new float[nk];
                float rowD = 0;
                for (int j = 0; j < nk; j++)
                {
                    p[i, j] = R<T>(MathF.Exp(s[j] - max) / sum);
                    float dot = 0;
                    for (int d = 0; d < dim; d++)
                        dot += F(dOut[b, i, h, d]) * F(v[b, j, hk, d]);
                    float z = logits.DropFactor<T>(b, h, i, j);
                    pz[i, j] = R<T>(p[i, j] * z);
                    dp[j] = R<T>(R<T>(dot) * z);
                    rowD += p[i, j] * dp[j];
                }
                for (int j = 0; j < nk; j++)
                    ds[i, j] = R<T>(R<T>(p[i, j] * (dp[j] - rowD)) * slope[j]);
            }
            for (int i = 0; i < nq; i++)
            for (int d = 0; d < dim; d++)
            {
                float acc = 0;
                for (int j = 0; j < nk; j++) acc += ds[i, j] * F(k[b, j, hk, d]);
                dq[(((long)b * nq + i) * hq + h) * dim + d] = R<T>(acc * scale);
            }
            for (int j = 0; j < nk; j++)
            for (int d = 0; d < dim; d++)
            {
                float accK = 0, accV = 0;
                for (int i = 0; i < nq; i++)
                {
                    accK += ds[i, j] * F(q[b, i, h, d]);
                    accV += pz[i, j] * F(dOut[b, i, h, d]);
                }
                long at = (((long)b * nk + j) * hkv + hk) * dim + d;
                // Each query head's share is rounded, then summed as autograd's expand-backward does.
                dk[at] = R<T>(dk[at] + R<T>(accK * scale));
                dv[at] = R<T>(dv[at] + R<T>(accV));
            }
        }
        return (dq.Select(x => (double)x).ToArray(), dk.Select(x => (double)x).ToArray(), dv.Select(x => (double)x).ToArray());
    }

    private static float F<T>(T x) where T : unmanaged => Elements.ToSingle(x);

    private static float R<T>(float x) where T : unmanaged => Elements.ToSingle(Elements.FromSingle<T>(x));
}
