using FlashAttention.Kernels.Portable;
using FlashAttention.Tests.Support;

namespace FlashAttention.Tests;

/// <summary>
/// The additive bias and the boolean mask (<see cref="AttentionOptions.Bias"/>, <see cref="AttentionOptions.Mask"/>)
/// in both portable forward kernels (v3 and v4) against the float64 reference, at odd shapes, with
/// every broadcast form, fully masked rows (every 7th row: output 0, LSE -inf), -inf bias elements,
/// and combined with causal, window, ALiBi and soft cap; outputs poisoned with NaN. Small on purpose.
/// </summary>
public class BiasMaskForwardTests
{
    /// <summary>One row per form or combination; each runs on v3 and on v4.</summary>
    public static TheoryData<string, ForwardCase> Cases()
    {
        var rows = new (string DType, ForwardCase Case)[]
        {
            // Bias shared by every batch item and head [1, 1], GQA, padded head dim 40.
            ("float32", new(1, 113, 203, 2, 1, 40, Causal: false, BiasDims: [1, 1])),
            // Bias per batch item [B, 1] and mask per head [1, H].
            ("float16", new(2, 37, 45, 2, 2, 64, Causal: false, BiasDims: [2, 1], MaskDims: [1, 2])),
            // Bias per head [1, H] with -inf elements, head dim 72.
            ("bfloat16", new(1, 113, 113, 2, 2, 72, Causal: false, BiasDims: [1, 2], BiasNegativeInfinity: true)),
            // Full-size bias and mask [B, H].
            ("float32", new(2, 45, 77, 2, 1, 64, Causal: false, BiasDims: [2, 2], MaskDims: [2, 2])),
            // One query row against 203 keys, mask only.
            ("float32", new(1, 1, 203, 1, 1, 32, Causal: false, MaskDims: [1, 1])),
            // Everything at once, seqlen_q > seqlen_k (rows that causal hides and rows the mask hides).
            ("float16", new(1, 203, 113, 2, 1, 40, Causal: true, Scale: 0.3f, Window: new(48, 0), AlibiSlopes: [0.25f, 0.0625f],
                Softcap: 4f, BiasDims: [1, 2], MaskDims: [1, 1])),
            // A float16 bias (widened to float32 for the portable kernels) on float32 inputs, -inf elements.
            ("float32", new(2, 113, 203, 2, 1, 40, Causal: true, BiasDims: [1, 2], BiasNegativeInfinity: true, HalfBias: true)),
        };
        return PortableVariants.OnBoth(rows);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Matches_reference(string dtype, ForwardCase c) => ElementTypes.Run(dtype, c, TestDevice.Engine);

    /// <summary>KernelPath.Auto with a bias on 16-bit inputs runs (on the portable kernel wherever tensor cores exist).</summary>
    [Fact]
    public void Auto_runs_a_bias_on_16_bit_inputs() =>
        ElementTypes.Run("float16", new ForwardCase(1, 33, 50, 1, 1, 64, Causal: true, BiasDims: [1, 1], MaskDims: [1, 1]), TestDevice.Engine);

    /// <summary>A mask that hides every pair: every row gives output 0 and LSE -inf, never NaN.</summary>
    [Fact]
    public void All_masked_gives_zero_and_negative_infinity()
    {
        int n = 9;
        var rng = new RandomTensors(91);
        var q = rng.Bshd<float>(1, n, 1, 32);
        var output = HostTensor<float>.Bshd(Enumerable.Repeat(float.NaN, n * 32).ToArray(), 1, n, 1, 32);
        var lse = Enumerable.Repeat(float.NaN, n).ToArray();
        var options = new AttentionOptions { Mask = AttentionBooleanMask.Shared(new bool[n * n], n, n), Kernel = KernelPath.Portable };
        TestDevice.Engine.Forward(q, q, q, output, lse, options);
        output.Data.Should().OnlyContain(x => x == 0f);
        lse.Should().OnlyContain(x => float.IsNegativeInfinity(x));
    }
}
