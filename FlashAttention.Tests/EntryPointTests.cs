using ILGPU.Runtime.CPU;
using FlashAttention.Tests.Support;

namespace FlashAttention.Tests;

/// <summary>Packed qkv / kv, device tensors on caller-owned buffers, LSE-free calls and repeatability.</summary>
public class EntryPointTests
{
    private static AttentionEngine Engine => TestDevice.Engine;

    [Fact]
    public void Packed_qkv_equals_separate_tensors()
    {
        const int b = 2, n = 67, h = 3, d = 40;
        var rng = new RandomTensors(RandomTensors.SeedFor(nameof(Packed_qkv_equals_separate_tensors)));
        var qkv = rng.Array<Half>((long)b * n * 3 * h * d);
        var (ql, kl, vl) = TensorLayout.PackedQkv(b, n, h, d);
        var options = new AttentionOptions { Causal = true, ReturnLse = true };

        var packed = Engine.ForwardPackedQkv(qkv, b, n, h, d, options);

        var c = new ForwardCase(b, n, n, h, h, d, Causal: true);
        c.Judge("packed qkv", rng.Seed, new HostTensor<Half>(qkv, ql), new HostTensor<Half>(qkv, kl), new HostTensor<Half>(qkv, vl),
            options.ScaleFor(d), packed.Output, packed.Lse!);
    }

    [Fact]
    public void Packed_kv_with_grouped_heads()
    {
        const int b = 1, nq = 45, nk = 130, hq = 4, hkv = 2, d = 64;
        var rng = new RandomTensors(RandomTensors.SeedFor(nameof(Packed_kv_with_grouped_heads)));
        var q = rng.Bshd<BFloat16>(b, nq, hq, d);
        var kv = rng.Array<BFloat16>((long)b * nk * 2 * hkv * d);
        var (kl, vl) = TensorLayout.PackedKv(b, nk, hkv, d);
        var options = new AttentionOptions { ReturnLse = true };

        var result = Engine.ForwardPackedKv(q, kv, nk, hkv, options);

        new ForwardCase(b, nq, nk, hq, hkv, d, Causal: false).Judge("packed kv", rng.Seed, q,
            new HostTensor<BFloat16>(kv, kl), new HostTensor<BFloat16>(kv, vl), options.ScaleFor(d), result.Output, result.Lse!);
    }

    [Fact]
    public void Device_tensors_on_caller_buffers_without_lse()
    {
        const int b = 1, n = 99, h = 2, d = 32;
        var rng = new RandomTensors(RandomTensors.SeedFor(nameof(Device_tensors_on_caller_buffers_without_lse)));
        var q = rng.Bshd<float>(b, n, h, d);
        var k = rng.Bshd<float>(b, n, h, d);
        var v = rng.Bshd<float>(b, n, h, d);
        var accelerator = Engine.Accelerator;
        using var dq = accelerator.Allocate1D(q.Data);
        using var dk = accelerator.Allocate1D(k.Data);
        using var dv = accelerator.Allocate1D(v.Data);
        using var dOut = accelerator.Allocate1D(Enumerable.Repeat(float.NaN, q.Data.Length).ToArray());

        Engine.Forward(DeviceTensor<float>.Bshd(dq.View, b, n, h, d), DeviceTensor<float>.Bshd(dk.View, b, n, h, d),
            DeviceTensor<float>.Bshd(dv.View, b, n, h, d), DeviceTensor<float>.Bshd(dOut.View, b, n, h, d), default);
        accelerator.Synchronize();

        var output = HostTensor<float>.Bshd(dOut.GetAsArray1D(), b, n, h, d);
        var expected = Reference.ReferenceAttention.Forward(q, k, v);
        Accuracy.MaxError(expected.Output, i => output.Data[i]).Error.Should().BeLessThan(1e-5);
    }

    [Fact]
    public void Engine_on_a_borrowed_accelerator_leaves_it_open()
    {
        using var context = Context.Create(builder => builder.ForCpuKernels());
        using var accelerator = context.CreateCPUAccelerator(0);
        var rng = new RandomTensors(7);
        var q = rng.Bshd<float>(1, 9, 1, 32);
        using (var engine = AttentionEngine.ForAccelerator(accelerator))
            engine.Forward(q, q, q).Output.Data.Should().NotContain(float.NaN);

        using var buffer = accelerator.Allocate1D<float>(4); // still usable
        buffer.Length.Should().Be(4);
    }

    /// <summary>No atomics, fixed reduction order: the same inputs give bitwise-equal O and LSE every time.</summary>
    [Fact]
    public void Forward_is_bitwise_repeatable()
    {
        var rng = new RandomTensors(RandomTensors.SeedFor(nameof(Forward_is_bitwise_repeatable)));
        var q = rng.Bshd<Half>(1, 70, 2, 64);
        var k = rng.Bshd<Half>(1, 90, 1, 64);
        var v = rng.Bshd<Half>(1, 90, 1, 64);
        var options = new AttentionOptions { Causal = true, ReturnLse = true };
        var first = Engine.Forward(q, k, v, options);
        for (int run = 0; run < 20; run++)
        {
            var again = Engine.Forward(q, k, v, options);
            Bits(again.Output.Data).Should().Equal(Bits(first.Output.Data), $"run {run}");
            again.Lse!.Select(BitConverter.SingleToInt32Bits).Should().Equal(first.Lse!.Select(BitConverter.SingleToInt32Bits), $"run {run}");
        }
    }

    private static ushort[] Bits(Half[] values) => System.Runtime.InteropServices.MemoryMarshal.Cast<Half, ushort>(values).ToArray();

    /// <summary>With seqlen_q &gt; seqlen_k and causal, the first queries see no key: output 0, LSE -inf, never NaN.</summary>
    [Fact]
    public void Rows_that_see_no_key_give_zero_and_minus_infinity()
    {
        var rng = new RandomTensors(11);
        var q = rng.Bshd<float>(1, 50, 1, 32);
        var k = rng.Bshd<float>(1, 20, 1, 32);
        var result = Engine.Forward(q, k, k, new AttentionOptions { Causal = true, ReturnLse = true });
        for (int i = 0; i < 30; i++)
        {
            result.Lse![i].Should().Be(float.NegativeInfinity, $"row {i} sees no key");
            for (int d = 0; d < 32; d++)
                result.Output[0, i, 0, d].Should().Be(0f);
        }
        result.Lse![30].Should().BeInRange(-10f, 10f, "row 30 sees key 0");
    }
}
