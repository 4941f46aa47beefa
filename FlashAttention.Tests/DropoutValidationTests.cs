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

    [Fact]
    public void Tensor_core_path_refuses()
    {
        var q = HostTensor<Half>.Zeros(1, 5, 2, 32);
        var k = HostTensor<Half>.Zeros(1, 6, 2, 32);
        foreach (var options in new[]
                 {
                     new AttentionOptions { Kernel = KernelPath.TensorCore, DropoutP = 0.1f },
                     new AttentionOptions { TensorCoreTile = new TensorCoreTile(4), DropoutP = 0.1f },
                 })
        {
            var act = () => TestDevice.TensorCoreEngine.Forward(q, k, k, options);
            act.Should().Throw<ArgumentException>().Where(e =>
                e.ParamName == "options" && e.Message.Contains("DropoutP is not supported by the tensor-core kernel"));
        }
    }

    /// <summary>KernelPath.Auto with Half inputs (where the tensor-core kernel would run) takes the portable kernel instead.</summary>
    [Fact]
    public void Auto_runs_dropout_on_the_portable_kernel()
    {
        var rng = new RandomTensors(3);
        var q = rng.Bshd<Half>(1, 33, 1, 32);
        var k = rng.Bshd<Half>(1, 40, 1, 32);
        var result = TestDevice.TensorCoreEngine.Forward(q, k, k, new AttentionOptions { DropoutP = 0.2f, DropoutSeed = 1 });
        result.Output.Data.Should().OnlyContain(x => Half.IsFinite(x));
    }
}
