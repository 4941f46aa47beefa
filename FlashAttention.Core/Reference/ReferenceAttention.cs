namespace FlashAttention.Reference;

/// <summary>
/// Attention and its gradients in float64 with plain loops over whole score rows: the oracle the
/// kernels are checked against. It shares no code with the kernels (no tiles, no online softmax,
/// natural exp), and its backward is itself checked against finite differences of its forward.
/// </summary>
public static class ReferenceAttention
{
    /// <summary>The reference forward outputs.</summary>
    /// <param name="Output">O, contiguous [batch, seqlen_q, heads_q, headdim].</param>
    /// <param name="Lse">Natural-log LSE, [batch, heads_q, seqlen_q]; -inf for rows that see no key.</param>
    public sealed record Result(double[] Output, double[] Lse);

    /// <summary>The reference gradients, each contiguous [batch, seqlen, heads, headdim] of its input.</summary>
    public sealed record Gradients(double[] DQ, double[] DK, double[] DV);

    /// <summary>softmax(q k^T * scale + causal mask) v, with q, k, v read exactly as float64.</summary>
    /// <param name="q">[batch, seqlen_q, heads_q, headdim].</param>
    /// <param name="k">[batch, seqlen_k, heads_kv, headdim], heads_q a multiple of heads_kv.</param>
    /// <param name="v">Same shape as <paramref name="k"/>.</param>
    /// <param name="scale">Softmax scale; null for 1/sqrt(headdim).</param>
    /// <param name="causal">Bottom-right aligned causal mask: query i sees keys j &lt;= i + seqlen_k - seqlen_q.</param>
    public static Result Forward<T>(HostTensor<T> q, HostTensor<T> k, HostTensor<T> v, double? scale = null, bool causal = false)
        where T : unmanaged =>
        Forward(Float64Tensor.From(q), Float64Tensor.From(k), Float64Tensor.From(v), scale, causal);

    /// <summary>The forward on float64 tensors.</summary>
    public static Result Forward(Float64Tensor q, Float64Tensor k, Float64Tensor v, double? scale = null, bool causal = false)
    {
        var (ql, kl) = (q.Layout, k.Layout);
        int batch = ql.Batch, nq = ql.SeqLen, hq = ql.Heads, dim = ql.HeadDim;
        var output = new double[(long)batch * nq * hq * dim];
        var lse = new double[(long)batch * hq * nq];
        var p = new double[kl.SeqLen];
        for (int b = 0; b < batch; b++)
        for (int h = 0; h < hq; h++)
        for (int i = 0; i < nq; i++)
        {
            int hk = h / (hq / kl.Heads);
            double rowLse = Probabilities(q, k, b, h, hk, i, scale ?? 1.0 / Math.Sqrt(dim), causal, p);
            lse[((long)b * hq + h) * nq + i] = rowLse;
            long row = (((long)b * nq + i) * hq + h) * dim;
            for (int j = 0; j < p.Length; j++)
            {
                if (p[j] == 0)
                    continue;
                for (int d = 0; d < dim; d++)
                    output[row + d] += p[j] * v[b, j, hk, d];
            }
        }
        return new Result(output, lse);
    }

    /// <summary>
    /// Gradients of the loss L with respect to q, k and v, given dOut = dL/dO. dK and dV sum over the
    /// query heads that share each key head. Rows that see no key contribute nothing.
    /// </summary>
    public static Gradients Backward<T>(HostTensor<T> dOut, HostTensor<T> q, HostTensor<T> k, HostTensor<T> v,
        double? scale = null, bool causal = false) where T : unmanaged =>
        Backward(Float64Tensor.From(dOut), Float64Tensor.From(q), Float64Tensor.From(k), Float64Tensor.From(v), scale, causal);

    /// <summary>The backward on float64 tensors.</summary>
    public static Gradients Backward(Float64Tensor dOut, Float64Tensor q, Float64Tensor k, Float64Tensor v,
        double? scale = null, bool causal = false)
    {
        var (ql, kl) = (q.Layout, k.Layout);
        int batch = ql.Batch, nq = ql.SeqLen, nk = kl.SeqLen, hq = ql.Heads, hkv = kl.Heads, dim = ql.HeadDim;
        double s = scale ?? 1.0 / Math.Sqrt(dim);
        var dq = Float64Tensor.Zeros(batch, nq, hq, dim);
        var dk = Float64Tensor.Zeros(batch, nk, hkv, dim);
        var dv = Float64Tensor.Zeros(batch, nk, hkv, dim);
        var p = new double[nk];
        var dp = new double[nk];
        for (int b = 0; b < batch; b++)
        for (int h = 0; h < hq; h++)
        for (int i = 0; i < nq; i++)
        {
            int hk = h / (hq / hkv);
            if (double.IsNegativeInfinity(Probabilities(q, k, b, h, hk, i, s, causal, p)))
                continue;
            // dP_ij = dO_i . v_j;  D_i = sum_j P_ij dP_ij;  dS_ij = P_ij (dP_ij - D_i)
            double rowD = 0;
            for (int j = 0; j < nk; j++)
            {
                double dot = 0;
                for (int d = 0; d < dim; d++)
                    dot += dOut[b, i, h, d] * v[b, j, hk, d];
                dp[j] = dot;
                rowD += p[j] * dot;
            }
            for (int j = 0; j < nk; j++)
            {
                if (p[j] == 0)
                    continue;
                double dS = p[j] * (dp[j] - rowD);
                for (int d = 0; d < dim; d++)
                {
                    dq.Data[dq.Layout.IndexOf(b, i, h, d)] += s * dS * k[b, j, hk, d];
                    dk.Data[dk.Layout.IndexOf(b, j, hk, d)] += s * dS * q[b, i, h, d];
                    dv.Data[dv.Layout.IndexOf(b, j, hk, d)] += p[j] * dOut[b, i, h, d];
                }
            }
        }
        return new Gradients(dq.Data, dk.Data, dv.Data);
    }

    /// <summary>Fills <paramref name="p"/> with row i's softmax probabilities and returns its LSE (-inf when no key is visible).</summary>
    private static double Probabilities(Float64Tensor q, Float64Tensor k, int b, int h, int hk, int i, double scale, bool causal, double[] p)
    {
        int nq = q.Layout.SeqLen, nk = k.Layout.SeqLen, dim = q.Layout.HeadDim;
        double max = double.NegativeInfinity;
        for (int j = 0; j < nk; j++)
        {
            if (causal && j > i + nk - nq)
            {
                p[j] = double.NegativeInfinity;
                continue;
            }
            double dot = 0;
            for (int d = 0; d < dim; d++)
                dot += q[b, i, h, d] * k[b, j, hk, d];
            p[j] = dot * scale;
            max = Math.Max(max, p[j]);
        }
        if (double.IsNegativeInfinity(max))
        {
            Array.Clear(p);
            return double.NegativeInfinity;
        }
        double sum = 0;
        for (int j = 0; j < nk; j++)
        {
            p[j] = Math.Exp(p[j] - max);
            sum += p[j];
        }
        for (int j = 0; j < nk; j++)
            p[j] /= sum;
        return max + Math.Log(sum);
    }
}
