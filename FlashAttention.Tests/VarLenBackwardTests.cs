using FlashAttention.Tests.Support;

namespace FlashAttention.Tests;

/// <summary>Variable-length backward: dQ, dK, dV of each packed sequence against the float64 reference backward of its slice.</summary>
public class VarLenBackwardTests
{
    public static TheoryData<string, VarLenCase> Cases() => new()
    {
        { "float32", new VarLenCase([1, 113, 203], [1, 113, 203], 2, 2, 64, Causal: false, Backward: true) },
        { "float16", new VarLenCase([1, 60, 90], [50, 40, 90], 2, 1, 64, Causal: true, Backward: true) },
        { "bfloat16", new VarLenCase([0, 17, 64], [5, 0, 64], 3, 1, 40, Causal: true, Backward: true) },
        { "float16", new VarLenCase([30, 0, 70], [80, 20, 45], 2, 2, 32, Causal: false, Backward: true) with
            { Window = new(20, 10), AlibiSlopes = [0.25f, 0.0625f], Softcap = 5f, ExtraMax = 5 } },
        { "float32", new VarLenCase([40, 50], [60, 33], 2, 2, 32, Causal: false, Backward: true) with { DropoutP = 0.2f, DropoutSeed = 7, DropoutOffset = 3 } },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Gradients_match_reference_per_sequence(string dtype, VarLenCase c) => ElementTypes.Run(dtype, c, TestDevice.Engine);
}
