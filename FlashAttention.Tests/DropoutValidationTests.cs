using FlashAttention.Tests.Support;

namespace FlashAttention.Tests;

/// <summary>DropoutP outside [0, 1) and dropout on the tensor-core path are refused before anything is launched.</summary>
public class DropoutValidationTests
{
    [Theory]
    [InlineData(-0.1f)]
    [InlineData(1f)]
    [InlineData(1.5f)]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    public void Probability_outside_the_range(float p)
    {
        var q = HostTensor<float>.Zeros(1, 5, 2, 32);
        var k = HostTensor<float>.Zeros(1, 6, 2, 32);
        var o = HostTensor<float>.Zeros(1, 5, 2, 32);
        Array.Fill(o.Data, float.NaN);
        var act = () => TestDevice.Engine.Forward(q, k, k, o, null, new AttentionOptions { DropoutP = p });
        act.Should().Throw<ArgumentException>().Where(e =>
            e.ParamName == "options" && e.Message.Contains("DropoutP is") && e.Message.Contains("expected 0 (off) or a probability in [0, 1)"));
        o.Data.Should().OnlyContain(x => float.IsNaN(x), "nothing may be launched");
    }

    /// <summary>
    /// The tensor-core kernel drops the same pairs as the reference (the same Philox draw, shared by lane
    /// pairs), with partial tiles and GQA; outputs poisoned with NaN.
    /// </summary>
    /// <remarks>One tile on the CPU (each tensor-core specialisation costs CI ~15 s there): 64-key tiles, all eight n-tiles dropped.</remarks>
    [Theory]
    [InlineData(16, 64)]
    public void Tensor_core_forward_matches_reference(int warpRows, int bc) =>
        ElementTypes.Run("float16", new ForwardCase(1, 70, 90, 2, 1, 64, Causal: true, Kernel: KernelPath.TensorCore,
            TensorCoreTile: new TensorCoreTile(4, WarpRows: warpRows, Bc: bc), DropoutP: 0.3f, DropoutSeed: 11, DropoutOffset: 5),
            TestDevice.TensorCoreEngine);

    /// <summary>KernelPath.Auto with Half inputs and dropout runs (on the tensor-core kernel where there is one).</summary>
    [Fact]
    public void Auto_runs_dropout_on_half_inputs()
    {
        var rng = new RandomTensors(3);
        var q = rng.Bshd<Half>(1, 33, 1, 32);
        var k = rng.Bshd<Half>(1, 40, 1, 32);
        var result = TestDevice.TensorCoreEngine.Forward(q, k, k, new AttentionOptions { DropoutP = 0.2f, DropoutSeed = 1 });
        result.Output.Data.Should().OnlyContain(x => Half.IsFinite(x));
    }
}
