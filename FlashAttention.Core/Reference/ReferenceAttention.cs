namespace FlashAttention.Reference;

/// <summary>
/// Attention in float64 with plain loops over the whole score row: the oracle the kernels are
/// checked against. It shares no code with the kernels (no tiles, no online softmax, natural exp).
/// </summary>
public static class ReferenceAttention
{
    /// <summary>The reference outputs.</summary>
    /// <param name="Output">O, contiguous [batch, seqlen_q, heads_q, headdim].</param>
    /// <param name="Lse">Natural-log LSE, [batch, heads_q, seqlen_q]; -inf for rows that see no key.</param>
    public sealed record Result(double[] Output, double[] Lse);

    /// <summary>softmax(q k^T * scale + causal mask) v, with q, k, v read exactly as float64.</summary>
    /// <param name="q">[batch, seqlen_q, heads_q, headdim].</param>
    /// <param name="k">[batch, seqlen_k, heads_kv, headdim], heads_q a multiple of heads_kv.</param>
    /// <param name="v">Same shape as <paramref name="k"/>.</param>
    /// <param name="scale">Softmax scale; null for 1/sqrt(headdim).</param>
    /// <param name="causal">Bottom-right aligned causal mask: query i sees keys j &lt;= i + seqlen_k - seqlen_q.</param>
    public static Result Forward<T>(HostTensor<T> q, HostTensor<T> k, HostTensor<T> v, double? scale = null, bool causal = false)
        where T : unmanaged
    {
        var (ql, kl) = (q.Layout, k.Layout);
        int batch = ql.Batch, nq = ql.SeqLen, nk = kl.SeqLen, hq = ql.Heads, dim = ql.HeadDim;
        int group = hq / kl.Heads;
        double s = scale ?? 1.0 / Math.Sqrt(dim);
        var output = new double[(long)batch * nq * hq * dim];
        var lse = new double[(long)batch * hq * nq];
        var scores = new double[nk];
        for (int b = 0; b < batch; b++)
        for (int h = 0; h < hq; h++)
        {
            int hk = h / group;
            for (int i = 0; i < nq; i++)
            {
                double max = double.NegativeInfinity;
                for (int j = 0; j < nk; j++)
                {
                    if (causal && j > i + nk - nq)
                    {
                        scores[j] = double.NegativeInfinity;
                        continue;
                    }
                    double dot = 0;
                    for (int d = 0; d < dim; d++)
                        dot += Elements.ToSingle(q[b, i, h, d]) * (double)Elements.ToSingle(k[b, j, hk, d]);
                    scores[j] = dot * s;
                    max = Math.Max(max, scores[j]);
                }

                long row = (((long)b * nq + i) * hq + h) * dim;
                long lseAt = ((long)b * hq + h) * nq + i;
                if (double.IsNegativeInfinity(max))
                {
                    lse[lseAt] = double.NegativeInfinity; // no visible key: output stays 0
                    continue;
                }

                double sum = 0;
                for (int j = 0; j < nk; j++)
                {
                    scores[j] = Math.Exp(scores[j] - max);
                    sum += scores[j];
                }
                for (int j = 0; j < nk; j++)
                {
                    if (scores[j] == 0)
                        continue;
                    double pj = scores[j] / sum;
                    for (int d = 0; d < dim; d++)
                        output[row + d] += pj * Elements.ToSingle(v[b, j, hk, d]);
                }
                lse[lseAt] = max + Math.Log(sum);
            }
        }
        return new Result(output, lse);
    }
}
