using System.Runtime.InteropServices;
using FlashAttention.Tests.Support;

namespace FlashAttention.Tests;

/// <summary>
/// <see cref="AttentionOptions.DeviceBias"/> and <see cref="AttentionOptions.DeviceMask"/> (read in place)
/// give bitwise the results of the host forms, which the other bias/mask tests check against the reference.
/// </summary>
public class BiasMaskDeviceFormTests
{
    [Fact]
    public void Device_forms_match_the_host_forms_bitwise()
    {
        const int b = 2, nq = 37, nk = 50, h = 2, d = 40;
        var engine = TestDevice.Engine;
        var rng = new RandomTensors(123);
        var q = rng.Bshd<float>(b, nq, h, d);
        var k = rng.Bshd<float>(b, nk, 1, d);
        var dOut = rng.Bshd<float>(b, nq, h, d);
        var bias = BiasMaskInputs.Bias([1, 2], nq, nk, 9, negativeInfinity: true)!;
        var mask = BiasMaskInputs.Mask([2, 1], nq, nk, 9)!;
        var host = new AttentionOptions { Causal = true, ReturnLse = true, ReturnBiasGradient = true, Bias = bias, Mask = mask, Kernel = KernelPath.Portable };

        using var biasBuffer = engine.Accelerator.Allocate1D(bias.Data);
        using var maskBuffer = engine.Accelerator.Allocate1D(MemoryMarshal.Cast<bool, byte>(mask.Data).ToArray());
        var device = host with
        {
            Bias = null, Mask = null,
            DeviceBias = new DeviceAttentionBias(biasBuffer.View, 1, 2, nq, nk),
            DeviceMask = new DeviceAttentionMask(maskBuffer.View, 2, 1, nq, nk),
        };

        var f1 = engine.Forward(q, k, k, host);
        var f2 = engine.Forward(q, k, k, device);
        f2.Output.Data.Should().Equal(f1.Output.Data);
        f2.Lse.Should().Equal(f1.Lse);
        f1.Lse.Should().Contain(float.NegativeInfinity, "the mask hides whole rows");

        var g1 = engine.Backward(dOut, q, k, k, f1.Output, f1.Lse!, host);
        var g2 = engine.Backward(dOut, q, k, k, f1.Output, f1.Lse!, device);
        g2.DQ.Data.Should().Equal(g1.DQ.Data);
        g2.DK.Data.Should().Equal(g1.DK.Data);
        g2.DBias.Should().Equal(g1.DBias);
    }

    [Fact]
    public void Host_and_device_forms_together_are_refused()
    {
        var engine = TestDevice.Engine;
        using var buffer = engine.Accelerator.Allocate1D<float>(30);
        var q = HostTensor<float>.Zeros(1, 5, 1, 32);
        var k = HostTensor<float>.Zeros(1, 6, 1, 32);
        var options = new AttentionOptions
        {
            Bias = AttentionBias.Shared(new float[30], 5, 6), DeviceBias = new DeviceAttentionBias(buffer.View, 1, 1, 5, 6),
        };
        var act = () => engine.Forward(q, k, k, options);
        act.Should().Throw<ArgumentException>().Where(e => e.ParamName == "options" && e.Message.Contains("Bias and DeviceBias are set"));

        var wrong = new AttentionOptions { DeviceBias = new DeviceAttentionBias(buffer.View.SubView(0, 29), 1, 1, 5, 6) };
        act = () => engine.Forward(q, k, k, wrong);
        act.Should().Throw<ArgumentException>().Where(e => e.Message.Contains("DeviceBias.Data has 29 elements; expected"));
    }
}
