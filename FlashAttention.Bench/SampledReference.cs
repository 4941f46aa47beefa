namespace FlashAttention.Bench;

/// <summary>
/// Float64 attention for a few query rows of one batch item. The full reference costs
/// O(seqlen^2) per head, minutes for a GPU-sized problem; a sample of rows checks the kernel at
/// the cost of O(rows * seqlen).
/// </summary>
public static class SampledReference
{
    /// <summary>The reference outputs of the sampled rows.</summary>
    /// <param name="Rows">The query rows, as given.</param>
    /// <param name="Output">O, [rows, heads_q, headdim].</param>
    /// <param name="Lse">Natural-log LSE, [rows, heads_q]; -inf for a row that sees no key.</param>
    public sealed record Result(int[] Rows, double[] Output, double[] Lse);

    /// <summary>
    /// <paramref name="count"/> rows spread evenly over <paramref name="seqLen"/>, the first and the
    /// last included: a causal mask makes early rows see few keys and late rows many.
    /// </summary>
    public static int[] SpreadRows(int seqLen, int count)
    {
        if (count >= seqLen || count < 2)
            return Enumerable.Range(0, Math.Min(seqLen, Math.Max(count, 1))).ToArray();
        return Enumerable.Range(0, count)
            .Select(i => (int)Math.Round(i * (seqLen - 1.0) / (count - 1)))
            .Distinct()
            .ToArray();
    }

    /// <summary>softmax(q k^T * scale + mask) v for the query <paramref name="rows"/> of batch item <paramref name="batch"/>.</summary>
    /// <param name="q">[batch, seqlen_q, heads_q, headdim].</param>
    /// <param name="k">[batch, seqlen_k, heads_kv, headdim], heads_q a multiple of heads_kv.</param>
    /// <param name="v">Same shape as <paramref name="k"/>.</param>
    /// <param name="batch">The batch item.</param>
    /// <param name="rows">Query rows to compute.</param>
    /// <param name="scale">Softmax scale.</param>
    /// <param name="causal">Bottom-right aligned causal mask: query i sees keys j &lt;= i + seqlen_k - seqlen_q.</param>
    public static Result Forward<T>(HostTensor<T> q, HostTensor<T> k, HostTensor<T> v, int batch, int[] rows,
        double scale, bool causal) where T : unmanaged
    {
        int nq = q.Layout.SeqLen, nk = k.Layout.SeqLen, hq = q.Layout.Heads, hkv = k.Layout.Heads, dim = q.Layout.HeadDim;
        int perKvHead = hq / hkv;
        // Widened once: the loops below read every key and value once per sampled row and head.
        var keys = Widen(k, batch);
        var values = Widen(v, batch);
        var output = new double[rows.Length * hq * dim];
        var lse = new double[rows.Length * hq];
        // Each (row, head) pair is independent; a GPU-sized check has hundreds of them.
        Parallel.For(0, rows.Length * hq, pair =>
        {
            int r = pair / hq, h = pair % hq;
            int i = rows[r], kvHead = h / perKvHead;
            int visible = causal ? Math.Clamp(i + nk - nq + 1, 0, nk) : nk;
            if (visible == 0)
            {
                lse[pair] = double.NegativeInfinity;
                return;
            }
            var query = new double[dim];
            for (int d = 0; d < dim; d++)
                query[d] = Elements.ToSingle(q[batch, i, h, d]);

            var weights = new double[visible];
            double max = double.NegativeInfinity;
            for (int j = 0; j < visible; j++)
            {
                var key = keys.AsSpan((j * hkv + kvHead) * dim, dim);
                double dot = 0;
                for (int d = 0; d < dim; d++)
                    dot += query[d] * key[d];
                weights[j] = dot * scale;
                max = Math.Max(max, weights[j]);
            }
            double sum = 0;
            for (int j = 0; j < visible; j++)
            {
                weights[j] = Math.Exp(weights[j] - max);
                sum += weights[j];
            }
            var row = output.AsSpan(pair * dim, dim);
            for (int j = 0; j < visible; j++)
            {
                double p = weights[j] / sum;
                var value = values.AsSpan((j * hkv + kvHead) * dim, dim);
                for (int d = 0; d < dim; d++)
                    row[d] += p * value[d];
            }
            lse[pair] = max + Math.Log(sum);
        });
        return new Result(rows, output, lse);
    }

    // One batch item as float32 [seqlen, heads, headdim], whatever the tensor's layout.
    private static float[] Widen<T>(HostTensor<T> t, int batch) where T : unmanaged
    {
        var l = t.Layout;
        var result = new float[l.SeqLen * l.Heads * l.HeadDim];
        Parallel.For(0, l.SeqLen, s =>
        {
            for (int h = 0; h < l.Heads; h++)
            for (int d = 0; d < l.HeadDim; d++)
                result[(s * l.Heads + h) * l.HeadDim + d] = Elements.ToSingle(t[batch, s, h, d]);
        });
        return result;
    }
}
