using FlashAttention.Reference;

namespace FlashAttention.Tests;

/// <summary>The oracle's own proof: its backward equals central finite differences of its forward.</summary>
public class ReferenceGradientTests
{
    [Theory]
    [InlineData(3, 4, 2, 1, false)]
    [InlineData(4, 3, 2, 2, true)]  // seqlen_q > seqlen_k: the first query sees no key
    [InlineData(3, 5, 4, 2, true)]
    public void Backward_matches_finite_differences(int nq, int nk, int hq, int hkv, bool causal)
    {
        const int dim = 3;
        const double eps = 1e-6;
        var rng = new Random(nq * 100 + nk * 10 + hq + (causal ? 1 : 0));
        Float64Tensor Rand(int n, int h) =>
            new(Enumerable.Range(0, n * h * dim).Select(_ => rng.NextDouble() * 2 - 1).ToArray(), TensorLayout.Bshd(1, n, h, dim));
        var q = Rand(nq, hq);
        var k = Rand(nk, hkv);
        var v = Rand(nk, hkv);
        var w = Rand(nq, hq); // L = sum(O * w), so dL/dO = w
        double Loss() => ReferenceAttention.Forward(q, k, v, 0.7, causal).Output.Zip(w.Data, (o, x) => o * x).Sum();

        var grads = ReferenceAttention.Backward(w, q, k, v, 0.7, causal);

        foreach (var (tensor, grad, name) in new[] { (q, grads.DQ, "dQ"), (k, grads.DK, "dK"), (v, grads.DV, "dV") })
        {
            for (int i = 0; i < tensor.Data.Length; i++)
            {
                double saved = tensor.Data[i];
                tensor.Data[i] = saved + eps;
                double up = Loss();
                tensor.Data[i] = saved - eps;
                double down = Loss();
                tensor.Data[i] = saved;
                grad[i].Should().BeApproximately((up - down) / (2 * eps), 1e-7, $"{name}[{i}]");
            }
        }
    }

    /// <summary>The same proof with a sliding window, ALiBi slopes [batch, heads] and a soft cap (1 - tanh² in the backward).</summary>
    [Theory]
    [InlineData(5, 4, false, 1, 0)]  // seqlen_q > seqlen_k: query 0 sees no key
    [InlineData(4, 6, true, 2, -1)]
    [InlineData(3, 5, false, -1, 1)]
    public void Backward_with_score_variants_matches_finite_differences(int nq, int nk, bool causal, int left, int right)
    {
        const int dim = 3, hq = 2, hkv = 1, batch = 2;
        const double eps = 1e-6;
        var rng = new Random(nq * 100 + nk * 10 + left + 7);
        Float64Tensor Rand(int n, int h) =>
            new(Enumerable.Range(0, batch * n * h * dim).Select(_ => rng.NextDouble() * 4 - 2).ToArray(), TensorLayout.Bshd(batch, n, h, dim));
        var q = Rand(nq, hq);
        var k = Rand(nk, hkv);
        var v = Rand(nk, hkv);
        var w = Rand(nq, hq);
        var options = new AttentionOptions
        {
            Scale = 0.8f, Causal = causal, Window = new(left, right), AlibiSlopes = [0.5f, 0.25f, 0.125f, 1f], Softcap = 1.5f,
        };
        double Loss() => ReferenceAttention.Forward(q, k, v, options).Output.Zip(w.Data, (o, x) => o * x).Sum();

        var grads = ReferenceAttention.Backward(w, q, k, v, options);

        foreach (var (tensor, grad, name) in new[] { (q, grads.DQ, "dQ"), (k, grads.DK, "dK"), (v, grads.DV, "dV") })
        {
            for (int i = 0; i < tensor.Data.Length; i++)
            {
                double saved = tensor.Data[i];
                tensor.Data[i] = saved + eps;
                double up = Loss();
                tensor.Data[i] = saved - eps;
                double down = Loss();
                tensor.Data[i] = saved;
                grad[i].Should().BeApproximately((up - down) / (2 * eps), 1e-7, $"{name}[{i}]");
            }
        }
    }

    /// <summary>
    /// The same proof with a broadcast bias and a boolean mask (a fully masked row included), and
    /// dBias (float32 bias, so the step is the float step actually taken).
    /// </summary>
    [Theory]
    [InlineData(1, 2, false)] // bias [1, heads]: dBias sums over the batch
    [InlineData(2, 1, true)]  // bias [batch, 1]: dBias sums over the heads
    public void Backward_with_bias_and_mask_matches_finite_differences(int biasBatch, int biasHeads, bool causal)
    {
        const int dim = 3, hq = 2, hkv = 1, batch = 2, nq = 4, nk = 5;
        var rng = new Random(biasBatch * 10 + biasHeads);
        Float64Tensor Rand(int n, int h) =>
            new(Enumerable.Range(0, batch * n * h * dim).Select(_ => rng.NextDouble() * 4 - 2).ToArray(), TensorLayout.Bshd(batch, n, h, dim));
        var q = Rand(nq, hq);
        var k = Rand(nk, hkv);
        var v = Rand(nk, hkv);
        var w = Rand(nq, hq);
        var bias = new AttentionBias(
            Enumerable.Range(0, biasBatch * biasHeads * nq * nk).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray(), biasBatch, biasHeads, nq, nk);
        // Row 1 hides every key; the rest hide every third pair.
        var mask = new AttentionBooleanMask(Enumerable.Range(0, nq * nk).Select(e => e / nk != 1 && e % 3 != 2).ToArray(), 1, 1, nq, nk);
        var options = new AttentionOptions { Scale = 0.8f, Causal = causal, Bias = bias, Mask = mask, Softcap = 2f };
        double Loss() => ReferenceAttention.Forward(q, k, v, options).Output.Zip(w.Data, (o, x) => o * x).Sum();

        var grads = ReferenceAttention.Backward(w, q, k, v, options);

        foreach (var (tensor, grad, name) in new[] { (q, grads.DQ, "dQ"), (k, grads.DK, "dK"), (v, grads.DV, "dV") })
        {
            for (int i = 0; i < tensor.Data.Length; i++)
            {
                double saved = tensor.Data[i];
                tensor.Data[i] = saved + 1e-6;
                double up = Loss();
                tensor.Data[i] = saved - 1e-6;
                double down = Loss();
                tensor.Data[i] = saved;
                grad[i].Should().BeApproximately((up - down) / 2e-6, 1e-7, $"{name}[{i}]");
            }
        }
        for (int i = 0; i < bias.Data.Length; i++)
        {
            float saved = bias.Data[i];
            float hi = saved + 1e-3f, lo = saved - 1e-3f;
            bias.Data[i] = hi;
            double up = Loss();
            bias.Data[i] = lo;
            double down = Loss();
            bias.Data[i] = saved;
            grads.DBias![i].Should().BeApproximately((up - down) / ((double)hi - lo), 1e-5, $"dBias[{i}]");
        }
    }
}
