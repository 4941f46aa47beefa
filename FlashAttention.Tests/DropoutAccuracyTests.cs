using FlashAttention.Kernels.Portable;
using FlashAttention.Tests.Support;

namespace FlashAttention.Tests;

/// <summary>
/// Dropout on P in both portable forward kernels (v3, v4) and in the backward, against the float64
/// reference, which draws the same Z through the same Philox function: so the comparison is exact
/// in Z and checks everything around it (scaling, statistics over the undropped P, the backward's
/// algebra). Odd shapes, causal, GQA, outputs poisoned with NaN. Small: one batch item, <= 2 heads.
/// </summary>
public class DropoutAccuracyTests
{
    public static TheoryData<string, ForwardCase> ForwardCases()
    {
        var rows = new (string DType, ForwardCase Case)[]
        {
            // One query row against 113 keys.
            ("float32", new(1, 1, 113, 2, 1, 64, Causal: false, DropoutP: 0.3f, DropoutSeed: 42)),
            // GQA, seqlen_q < seqlen_k, padded head dim 40, a 64-bit seed and offset.
            ("float16", new(1, 113, 203, 2, 1, 40, Causal: false, DropoutP: 0.1f, DropoutSeed: 0x123456789ABCDEFUL, DropoutOffset: 0xFFFFFFFFUL)),
            // Causal with seqlen_q > seqlen_k: rows that see no key stay 0 / -inf.
            ("float32", new(1, 203, 113, 1, 1, 64, Causal: true, DropoutP: 0.5f, DropoutSeed: 7, DropoutOffset: 3)),
            // Causal square, bfloat16, with ALiBi and a soft cap on top.
            ("bfloat16", new(1, 113, 113, 2, 2, 40, Causal: true, AlibiSlopes: [0.25f, 0.0625f], Softcap: 4f, DropoutP: 0.2f, DropoutSeed: 9)),
            // Two batch items (tiny): the stream index b * heads_q + h must match the reference's.
            ("float32", new(2, 17, 33, 2, 1, 32, Causal: false, DropoutP: 0.4f, DropoutSeed: 2)),
        };
        return PortableVariants.OnBoth(rows);
    }

    [Theory]
    [MemberData(nameof(ForwardCases))]
    public void Forward_matches_reference(string dtype, ForwardCase c) => ElementTypes.Run(dtype, c, TestDevice.Engine);

    public static TheoryData<string, BackwardCase> BackwardCases() => new()
    {
        { "float32", new BackwardCase(1, 113, 203, 2, 1, 40, Causal: false, DropoutP: 0.2f, DropoutSeed: 5) },
        { "float16", new BackwardCase(1, 113, 113, 1, 1, 64, Causal: true, DropoutP: 0.5f, DropoutSeed: 11, DropoutOffset: 17) },
        { "float32", new BackwardCase(1, 1, 113, 1, 1, 64, Causal: false, DropoutP: 0.3f, DropoutSeed: 3) },
        // seqlen_q > seqlen_k under causal (rows with no key), and a bias: dBias is the logit's gradient under dropout too.
        { "float32", new BackwardCase(1, 150, 97, 2, 2, 40, Causal: true, BiasDims: [1, 2], BiasGradient: true, DropoutP: 0.25f, DropoutSeed: 1) },
        // Two batch items (tiny), GQA: the dK/dV pass walks both query heads of a key head.
        { "float32", new BackwardCase(2, 17, 33, 2, 1, 32, Causal: false, DropoutP: 0.4f, DropoutSeed: 2, DropoutOffset: 9) },
    };

    [Theory]
    [MemberData(nameof(BackwardCases))]
    public void Backward_matches_reference(string dtype, BackwardCase c) => ElementTypes.Run(dtype, c, TestDevice.Engine);
}
