using FlashAttention.Kernels.Portable;

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
    public sealed record Gradients(double[] DQ, double[] DK, double[] DV)
    {
        /// <summary>dBias in the bias's own (broadcast) shape, summed over its size-1 dims; null without a bias.</summary>
        public double[]? DBias { get; init; }
    }

    /// <summary>
    /// softmax(logits) v with every option of <paramref name="options"/> that changes the result:
    /// scale, causal mask, sliding window, soft cap, ALiBi slopes, bias and boolean mask, dropout. q, k, v are read exactly as float64.
    /// </summary>
    public static Result Forward<T>(HostTensor<T> q, HostTensor<T> k, HostTensor<T> v, AttentionOptions options)
        where T : unmanaged =>
        Forward(Float64Tensor.From(q), Float64Tensor.From(k), Float64Tensor.From(v), options);

    /// <summary>The forward on float64 tensors, with every option of <paramref name="options"/>.</summary>
    public static Result Forward(Float64Tensor q, Float64Tensor k, Float64Tensor v, AttentionOptions options) =>
        Forward(q, k, v, Logits.Of(options, q.Layout));

    /// <summary>Gradients with every option of <paramref name="options"/>; see the other overloads.</summary>
    public static Gradients Backward<T>(HostTensor<T> dOut, HostTensor<T> q, HostTensor<T> k, HostTensor<T> v, AttentionOptions options)
        where T : unmanaged =>
        Backward(Float64Tensor.From(dOut), Float64Tensor.From(q), Float64Tensor.From(k), Float64Tensor.From(v), options);

    /// <summary>The backward on float64 tensors, with every option of <paramref name="options"/>.</summary>
    public static Gradients Backward(Float64Tensor dOut, Float64Tensor q, Float64Tensor k, Float64Tensor v, AttentionOptions options) =>
        Backward(dOut, q, k, v, Logits.Of(options, q.Layout));

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
    public static Result Forward(Float64Tensor q, Float64Tensor k, Float64Tensor v, double? scale = null, bool causal = false) =>
        Forward(q, k, v, Logits.Plain(scale ?? 1.0 / Math.Sqrt(q.Layout.HeadDim), causal));

    private static Result Forward(Float64Tensor q, Float64Tensor k, Float64Tensor v, Logits logits)
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
            double rowLse = Probabilities(q, k, b, h, hk, i, logits, p, null);
            lse[((long)b * hq + h) * nq + i] = rowLse;
            long row = (((long)b * nq + i) * hq + h) * dim;
            for (int j = 0; j < p.Length; j++)
            {
                if (p[j] == 0)
                    continue;
                double pz = p[j] * logits.DropFactor(b, h, i, j);
                for (int d = 0; d < dim; d++)
                    output[row + d] += pz * v[b, j, hk, d];
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
        double? scale = null, bool causal = false) =>
        Backward(dOut, q, k, v, Logits.Plain(scale ?? 1.0 / Math.Sqrt(q.Layout.HeadDim), causal));

    private static Gradients Backward(Float64Tensor dOut, Float64Tensor q, Float64Tensor k, Float64Tensor v, Logits logits)
    {
        var (ql, kl) = (q.Layout, k.Layout);
        int batch = ql.Batch, nq = ql.SeqLen, nk = kl.SeqLen, hq = ql.Heads, hkv = kl.Heads, dim = ql.HeadDim;
        double s = logits.Scale;
        var dq = Float64Tensor.Zeros(batch, nq, hq, dim);
        var dk = Float64Tensor.Zeros(batch, nk, hkv, dim);
        var dv = Float64Tensor.Zeros(batch, nk, hkv, dim);
        var p = new double[nk];
        var dp = new double[nk];
        var dLogit = new double[nk];
        var z = new double[nk];
        // The bias adds to the logit, so its gradient is the logit's, P (dP - D), summed where it broadcasts.
        var bias = logits.Bias;
        double[]? dBias = bias is null ? null : new double[bias.Data.LongLength];
        for (int b = 0; b < batch; b++)
        for (int h = 0; h < hq; h++)
        for (int i = 0; i < nq; i++)
        {
            int hk = h / (hq / hkv);
            if (double.IsNegativeInfinity(Probabilities(q, k, b, h, hk, i, logits, p, dLogit)))
                continue;
            // dP_ij = dO_i . v_j;  D_i = sum_j P_ij dP_ij;  dS_ij = P_ij (dP_ij - D_i) dLogit_ij / dS_ij,
            // the gradient with respect to the scaled score s_ij = q_i . k_j * scale.
            // Under dropout O = (P z) V with z = Z / (1 - p): the gradient reaching P_ij is
            // dP_ij = z_ij (dO_i . v_j), and D_i = sum_j P_ij dP_ij (= dO_i . O_i); dV takes P z.
            double rowD = 0;
            for (int j = 0; j < nk; j++)
            {
                double dot = 0;
                for (int d = 0; d < dim; d++)
                    dot += dOut[b, i, h, d] * v[b, j, hk, d];
                z[j] = p[j] == 0 ? 0 : logits.DropFactor(b, h, i, j);
                dp[j] = dot * z[j];
                rowD += p[j] * dp[j];
            }
            for (int j = 0; j < nk; j++)
            {
                if (p[j] == 0)
                    continue;
                if (dBias is not null)
                {
                    long at = (((long)(bias!.Batch == 1 ? 0 : b) * bias.Heads + (bias.Heads == 1 ? 0 : h)) * nq + i) * nk + j;
                    dBias[at] += p[j] * (dp[j] - rowD);
                }
                double dS = p[j] * (dp[j] - rowD) * dLogit[j];
                for (int d = 0; d < dim; d++)
                {
                    dq.Data[dq.Layout.IndexOf(b, i, h, d)] += s * dS * k[b, j, hk, d];
                    dk.Data[dk.Layout.IndexOf(b, j, hk, d)] += s * dS * q[b, i, h, d];
                    dv.Data[dv.Layout.IndexOf(b, j, hk, d)] += p[j] * z[j] * dOut[b, i, h, d];
                }
            }
        }
        return new Gradients(dq.Data, dk.Data, dv.Data) { DBias = dBias };
    }

    /// <summary>
    /// Fills <paramref name="p"/> with row i's softmax probabilities and returns its LSE (-inf when no
    /// key is visible); fills <paramref name="dLogit"/>, when given, with each logit's derivative with
    /// respect to its scaled score.
    /// </summary>
    private static double Probabilities(Float64Tensor q, Float64Tensor k, int b, int h, int hk, int i, Logits logits,
        double[] p, double[]? dLogit)
    {
        int nq = q.Layout.SeqLen, nk = k.Layout.SeqLen, dim = q.Layout.HeadDim;
        double max = double.NegativeInfinity;
        for (int j = 0; j < nk; j++)
        {
            if (!logits.Visible(i, j, nq, nk))
            {
                p[j] = double.NegativeInfinity;
                if (dLogit is not null) dLogit[j] = 0;
                continue;
            }
            double dot = 0;
            for (int d = 0; d < dim; d++)
                dot += q[b, i, h, d] * k[b, j, hk, d];
            var (logit, slope) = logits.Of(dot * logits.Scale, b, h, i, j, nq, nk);
            p[j] = logit;
            if (dLogit is not null) dLogit[j] = slope;
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

    /// <summary>
    /// How a score becomes a logit, written from FlashAttention-2's documented semantics: query i sees
    /// key j when i + off - left &lt;= j &lt;= i + off + right (off = seqlen_k - seqlen_q; -1 unbounded;
    /// causal caps right at 0); the logit is softcap * tanh(s / softcap) (when softcap &gt; 0) minus
    /// slope_h * |i + off - j|, where s = q_i . k_j * scale.
    /// </summary>
    /// Then the bias tensor element (b | 0, h | 0, i, j) is added (torch SDPA's float attn_mask), and
    /// where the boolean mask or the block mask holds false the logit is -inf (the pair is hidden).
    private sealed record Logits(double Scale, bool Causal, int Left, int Right, double Softcap, float[]? Slopes, int SlopeBatchStride,
        AttentionBias? Bias = null, AttentionBooleanMask? Mask = null, float DropoutP = 0, Dropout Dropout = default,
        AttentionBlockMask? BlockMask = null)
    {
        public static Logits Plain(double scale, bool causal) => new(scale, causal, -1, -1, 0, null, 0);

        public static Logits Of(AttentionOptions o, TensorLayout q) => new(
            o.Scale ?? 1.0 / Math.Sqrt(q.HeadDim), o.Causal, o.Window?.Left ?? -1, o.Window?.Right ?? -1, o.Softcap,
            o.AlibiSlopes, o.AlibiSlopes is { } s && s.Length != q.Heads ? q.Heads : 0, o.Bias ?? o.HalfBias?.ToSingle(), o.Mask,
            o.DropoutP, Dropout.Create(o.DropoutP, o.DropoutSeed, o.DropoutOffset, q.Heads), o.BlockMask);

        /// <summary>
        /// Z_ij / (1 - p) of element (b, h, i, j): 0 or 1 / (1 - p) in float64, 1 without dropout. Z is
        /// defined by the kernels' Philox draw (<see cref="Dropout.Keeps"/>): the reference calls the same
        /// integer function, so it checks the arithmetic around Z, not the generator's statistics
        /// (the dropout tests measure those).
        /// </summary>
        public double DropFactor(int b, int h, int i, int j) =>
            DropoutP <= 0 ? 1 : Dropout.ForHead(b, h).Keeps(i, j) ? 1.0 / (1.0 - DropoutP) : 0;

        public bool Visible(int i, int j, int nq, int nk)
        {
            long diagonal = (long)i + nk - nq;
            if (Causal && j > diagonal) return false;
            if (Left >= 0 && j < diagonal - Left) return false;
            if (Right >= 0 && j > diagonal + Right) return false;
            return true;
        }

        /// <summary>The logit of scaled score <paramref name="s"/> and d logit / d s.</summary>
        public (double Logit, double Slope) Of(double s, int b, int h, int i, int j, int nq, int nk)
        {
            double logit = s, slope = 1;
            if (Softcap > 0)
            {
                double t = Math.Tanh(s / Softcap);
                logit = Softcap * t;
                slope = 1 - t * t;
            }
            if (Slopes is not null)
                logit -= Slopes[b * SlopeBatchStride + h] * Math.Abs((long)i + nk - nq - j);
            if (BlockMask is { } blocks && !blocks.Visible(b, h, i, j))
                return (double.NegativeInfinity, slope);
            if (Mask is { } m && !m.Data[(((long)(m.Batch == 1 ? 0 : b) * m.Heads + (m.Heads == 1 ? 0 : h)) * nq + i) * nk + j])
                return (double.NegativeInfinity, slope);
            if (Bias is { } bias)
                logit += bias.Data[(((long)(bias.Batch == 1 ? 0 : b) * bias.Heads + (bias.Heads == 1 ? 0 : h)) * nq + i) * nk + j];
            return (logit, slope);
        }
    }
}
