using FlashAttention.Tests.Support;

namespace FlashAttention.Tests;

/// <summary>
/// dQ, dK, dV with a bias and a boolean mask, and dBias (the dQ pass's P (dP - D), summed over the
/// bias's broadcast dims), against the float64 reference; gradients poisoned with NaN. Small shapes.
/// </summary>
public class BiasMaskBackwardTests
{
    public static TheoryData<string, BackwardCase> Cases() => new()
    {
        // [1, 1] bias, GQA: dBias sums over the two heads.
        { "float32", new(1, 113, 203, 2, 1, 40, Causal: false, BiasDims: [1, 1], BiasGradient: true) },
        // Full-size bias (dBias written in place) and a [B, 1] mask with fully masked rows.
        { "float32", new(2, 37, 45, 2, 2, 64, Causal: false, BiasDims: [2, 2], MaskDims: [2, 1], BiasGradient: true) },
        // [1, H] bias with causal, float16: dBias sums over the batch; causal-skipped tiles stay 0.
        { "float16", new(2, 45, 77, 2, 1, 72, Causal: true, BiasDims: [1, 2], BiasGradient: true) },
        // Everything at once, seqlen_q > seqlen_k, -inf bias elements.
        { "float32", new(1, 203, 113, 1, 1, 32, Causal: true, Scale: 0.4f, Window: new(40, 0), AlibiSlopes: [0.125f], Softcap: 3f,
            BiasDims: [1, 1], MaskDims: [1, 1], BiasGradient: true, BiasNegativeInfinity: true) },
        // A float16 [1, H] bias: the backward reads it widened; dBias is float32 of its shape.
        { "float16", new(2, 45, 78, 2, 1, 64, Causal: false, BiasDims: [1, 2], BiasGradient: true, HalfBias: true) },
        // Mask only, bfloat16, seqlen 1 against 64.
        { "bfloat16", new(1, 1, 64, 2, 2, 64, Causal: false, MaskDims: [1, 2]) },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Matches_reference(string dtype, BackwardCase c) => ElementTypes.Run(dtype, c, TestDevice.Engine);

    /// <summary>dBias of a broadcast bias (written full-size, then reduced) is bitwise the same on every run: no atomics.</summary>
    [Fact]
    public void Broadcast_bias_gradient_is_deterministic()
    {
        var rng = new RandomTensors(77);
        var q = rng.Bshd<float>(2, 29, 2, 32);
        var k = rng.Bshd<float>(2, 41, 1, 32);
        var dOut = rng.Bshd<float>(2, 29, 2, 32);
        var options = new AttentionOptions
        {
            Causal = true, ReturnLse = true, ReturnBiasGradient = true,
            Bias = BiasMaskInputs.Bias([1, 1], 29, 41, 5, negativeInfinity: false),
        };
        var engine = TestDevice.Engine;
        var forward = engine.Forward(q, k, k, options);
        var first = engine.Backward(dOut, q, k, k, forward.Output, forward.Lse!, options).DBias!;
        var second = engine.Backward(dOut, q, k, k, forward.Output, forward.Lse!, options).DBias!;
        first.Should().HaveCount(29 * 41);
        second.Should().Equal(first);
        first.Should().Contain(x => x != 0f).And.OnlyContain(x => float.IsFinite(x));
    }
}
