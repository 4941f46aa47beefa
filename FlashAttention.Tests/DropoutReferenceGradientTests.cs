using FlashAttention.Reference;

namespace FlashAttention.Tests;

/// <summary>
/// The reference's dropout backward against central finite differences of its own forward: Z is a
/// function of (seed, offset, b, h, i, j) only, not of q, k, v, so it stays fixed while they move
/// and the loss is differentiable. Also checks that p = 0.5 does drop something at this size.
/// </summary>
public class DropoutReferenceGradientTests
{
    [Theory]
    [InlineData(4, 6, false, 0.5f)]
    [InlineData(5, 4, true, 0.3f)] // seqlen_q > seqlen_k: the first query sees no key
    public void Backward_matches_finite_differences(int nq, int nk, bool causal, float p)
    {
        const int dim = 3, hq = 2, hkv = 1, batch = 2;
        const double eps = 1e-6;
        var rng = new Random(nq * 10 + nk);
        Float64Tensor Rand(int n, int h) =>
            new(Enumerable.Range(0, batch * n * h * dim).Select(_ => rng.NextDouble() * 4 - 2).ToArray(), TensorLayout.Bshd(batch, n, h, dim));
        var q = Rand(nq, hq);
        var k = Rand(nk, hkv);
        var v = Rand(nk, hkv);
        var w = Rand(nq, hq);
        var options = new AttentionOptions { Scale = 0.8f, Causal = causal, Softcap = 2f, DropoutP = p, DropoutSeed = 99, DropoutOffset = 4 };
        double Loss() => ReferenceAttention.Forward(q, k, v, options).Output.Zip(w.Data, (o, x) => o * x).Sum();

        // Dropout must change the output here, or the test would prove nothing about it.
        ReferenceAttention.Forward(q, k, v, options).Output
            .Should().NotEqual(ReferenceAttention.Forward(q, k, v, options with { DropoutP = 0 }).Output);

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
}
