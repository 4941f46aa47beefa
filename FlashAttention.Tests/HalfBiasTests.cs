using FlashAttention.Tests.Support;

namespace FlashAttention.Tests;

/// <summary>
/// The float16 bias forms (<see cref="AttentionOptions.HalfBias"/>, <see cref="AttentionOptions.DeviceHalfBias"/>): every
/// way the engine reads one gives bitwise the result of the float32 bias holding the same values (which the reference
/// tests check), and bad ones are refused before anything runs. The reference comparisons are rows of the forward and
/// backward theories (HalfBias = true).
/// </summary>
public class HalfBiasTests
{
    private const int B = 2, Nq = 45, Nk = 98, H = 2, D = 64;

    /// <summary>
    /// On the tensor-core forward: read as it is (host form, device form), widened because the device view starts
    /// off 4 bytes, and as float32: one result. With a mask beside it (the general mode, widened) it matches
    /// the float32 bias too.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Tensor_core_forms_match_the_float32_bias_bitwise(bool wgmma)
    {
        var engine = wgmma ? TestDevice.WgmmaEngine : TestDevice.TensorCoreEngine;
        var rng = new RandomTensors(wgmma ? 31 : 30);
        var q = rng.Bshd<Half>(B, Nq, H, D);
        var k = rng.Bshd<Half>(B, Nk, 1, D);
        var v = rng.Bshd<Half>(B, Nk, 1, D);
        var half = BiasMaskInputs.HalfBias([1, H], Nq, Nk, 17, negativeInfinity: true)!;
        var single = half.ToSingle();
        var tile = new TensorCoreTile(4, Wgmma: wgmma);
        var baseline = new AttentionOptions { Kernel = KernelPath.TensorCore, TensorCoreTile = tile, Causal = true, ReturnLse = true };

        var expected = engine.Forward(q, k, v, baseline with { Bias = single });
        var host = engine.Forward(q, k, v, baseline with { HalfBias = half });

        // One element of padding in front: the view starts on 2 bytes, not 4, so the engine widens it.
        using var buffer = engine.Accelerator.Allocate1D<Half>(half.Data.LongLength + 1);
        buffer.View.SubView(1, half.Data.LongLength).CopyFromCPU(half.Data);
        buffer.View.SubView(0, 1).CopyFromCPU([Half.NaN]);
        using var aligned = engine.Accelerator.Allocate1D(half.Data);
        var device = engine.Forward(q, k, v, baseline with { DeviceHalfBias = new DeviceAttentionHalfBias(aligned.View, 1, H, Nq, Nk) });
        var offset = engine.Forward(q, k, v, baseline with { DeviceHalfBias = new DeviceAttentionHalfBias(buffer.View.SubView(1, half.Data.LongLength), 1, H, Nq, Nk) });

        foreach (var (name, result) in new[] { ("host", host), ("device", device), ("offset device", offset) })
        {
            result.Output.Data.Should().Equal(expected.Output.Data, $"the {name} float16 bias holds the float32 bias's values");
            result.Lse.Should().Equal(expected.Lse, $"the {name} float16 bias holds the float32 bias's values");
        }
        expected.Output.Data.Should().OnlyContain(x => Half.IsFinite(x));

        var mask = BiasMaskInputs.Mask([1, 1], Nq, Nk, 5)!;
        var masked = engine.Forward(q, k, v, baseline with { HalfBias = half, Mask = mask });
        var maskedSingle = engine.Forward(q, k, v, baseline with { Bias = single, Mask = mask });
        masked.Output.Data.Should().Equal(maskedSingle.Output.Data);
        masked.Lse.Should().Equal(maskedSingle.Lse);
    }

    /// <summary>
    /// On wgmma, a float16 bias whose view starts on 16 bytes with seqlen_k a multiple of 8 is staged through shared memory
    /// by cp.async (<c>StagedHalfBiasScores</c>; a last tile of 8 keys, the rest zero-filled); a view on 4 bytes but not 16 is
    /// prefetched into registers. Both give bitwise the float32
    /// bias's result, on both wgmma kernels, one warpgroup and two, 136 keys (two tiles and 8 keys) and causal or not.
    /// </summary>
    [Theory]
    [InlineData(false, 4, false)]
    [InlineData(true, 8, true)]
    public void Staged_bias_matches_the_register_prefetch_bitwise(bool pipelined, int warps, bool causal)
    {
        const int sq = 75, sk = 136;
        var engine = TestDevice.WgmmaEngine;
        var rng = new RandomTensors(pipelined ? 34 : 33);
        var q = rng.Bshd<Half>(B, sq, H, D);
        var k = rng.Bshd<Half>(B, sk, 1, D);
        var v = rng.Bshd<Half>(B, sk, 1, D);
        var half = BiasMaskInputs.HalfBias([1, H], sq, sk, 19, negativeInfinity: true)!;
        var tile = new TensorCoreTile(warps, Wgmma: true, Pipelined: pipelined);
        var baseline = new AttentionOptions { Kernel = KernelPath.TensorCore, TensorCoreTile = tile, Causal = causal, ReturnLse = true };
        var expected = engine.Forward(q, k, v, baseline with { Bias = half.ToSingle() });

        // A buffer with room to place the bias on 16 bytes (staged) and 4 bytes past that (prefetched).
        using var buffer = engine.Accelerator.Allocate1D<Half>(half.Data.LongLength + 16);
        int first = 0;
        while (Kernels.Launch.VectorAlignment.AddressOf<Half>(buffer.View.SubView(first, 1)) % 16 != 0)
            first++;
        foreach (var (at, staged) in new[] { (first, true), (first + 2, false) })
        {
            var view = buffer.View.SubView(at, half.Data.LongLength);
            view.CopyFromCPU(half.Data);
            Kernels.Launch.TensorCoreForwardLauncher.StagesHalfBias(view, sk).Should().Be(staged);
            var result = engine.Forward(q, k, v, baseline with { DeviceHalfBias = new DeviceAttentionHalfBias(view, 1, H, sq, sk) });
            result.Output.Data.Should().Equal(expected.Output.Data, $"the {(staged ? "staged" : "prefetched")} float16 bias holds the float32 bias's values");
            result.Lse.Should().Equal(expected.Lse);
        }
        expected.Output.Data.Should().OnlyContain(x => Half.IsFinite(x));
        expected.Lse.Should().Contain(float.NegativeInfinity, "row 5 of the bias is -inf throughout");
    }

    /// <summary>The portable forward and the backward read it widened: the float32 bias's results and dBias, bitwise.</summary>
    [Fact]
    public void Portable_forward_and_backward_match_the_float32_bias_bitwise()
    {
        var engine = TestDevice.Engine;
        var rng = new RandomTensors(32);
        var q = rng.Bshd<float>(B, Nq, H, 40);
        var k = rng.Bshd<float>(B, Nk, 1, 40);
        var dOut = rng.Bshd<float>(B, Nq, H, 40);
        var half = BiasMaskInputs.HalfBias([1, H], Nq, Nk, 18, negativeInfinity: true)!;
        var single = new AttentionOptions { Causal = true, ReturnLse = true, ReturnBiasGradient = true, Bias = half.ToSingle() };
        var halved = single with { Bias = null, HalfBias = half };

        var f1 = engine.Forward(q, k, k, single);
        var f2 = engine.Forward(q, k, k, halved);
        f2.Output.Data.Should().Equal(f1.Output.Data);
        f2.Lse.Should().Equal(f1.Lse);

        var g1 = engine.Backward(dOut, q, k, k, f1.Output, f1.Lse!, single);
        var g2 = engine.Backward(dOut, q, k, k, f1.Output, f1.Lse!, halved);
        g2.DQ.Data.Should().Equal(g1.DQ.Data);
        g2.DK.Data.Should().Equal(g1.DK.Data);
        g2.DBias.Should().NotBeNull().And.HaveCount(H * Nq * Nk).And.Equal(g1.DBias);
    }

    [Fact]
    public void Rounding_is_to_nearest_and_exact_back()
    {
        var single = new AttentionBias([1f / 3, 70000f, -70000f, float.NegativeInfinity, 6.1e-5f, -2.5f], 1, 1, 2, 3);
        var half = AttentionHalfBias.From(single);
        half.Data.Should().Equal((Half)(1f / 3), Half.PositiveInfinity, Half.NegativeInfinity, Half.NegativeInfinity, (Half)6.1e-5f, (Half)(-2.5f));
        half.ToSingle().Data.Should().Equal(half.Data.Select(h => (float)h));
        (half.Batch, half.Heads, half.SeqLenQ, half.SeqLenK).Should().Be((1, 1, 2, 3));
    }

    private static void Rejects(AttentionOptions options, string expectedText)
    {
        var q = HostTensor<float>.Bshd(new RandomTensors(3).Array<float>(2 * 5 * 2 * 32), 2, 5, 2, 32);
        var k = HostTensor<float>.Bshd(new RandomTensors(4).Array<float>(2 * 6 * 2 * 32), 2, 6, 2, 32);
        var output = new HostTensor<float>(Enumerable.Repeat(7f, q.Data.Length).ToArray(), q.Layout);
        var act = () => TestDevice.Engine.Forward(q, k, k, output, null, options);
        act.Should().Throw<ArgumentException>().Where(e => e.ParamName == "options" && e.Message.Contains(expectedText),
            $"the message should name 'options' and say '{expectedText}'");
        output.Data.Should().OnlyContain(x => x == 7f, "nothing is written on invalid input");
    }

    [Fact]
    public void Bad_half_biases_are_refused()
    {
        Rejects(new AttentionOptions { HalfBias = new AttentionHalfBias(new Half[1 * 3 * 5 * 6], 1, 3, 5, 6) },
            "HalfBias.Heads is 3; expected 1 (broadcast) or heads_q 2");
        Rejects(new AttentionOptions { HalfBias = new AttentionHalfBias(new Half[59], 1, 2, 5, 6) },
            "HalfBias.Data has 59 elements; expected Batch * Heads * SeqLenQ * SeqLenK = 60");
        var nan = new Half[30];
        nan[13] = Half.NaN;
        Rejects(new AttentionOptions { HalfBias = AttentionHalfBias.Shared(nan, 5, 6) }, "HalfBias.Data[13] is NaN; expected a number or -Infinity");
        Rejects(new AttentionOptions { HalfBias = AttentionHalfBias.Shared(new Half[30], 5, 6), Bias = AttentionBias.Shared(new float[30], 5, 6) },
            "Bias and HalfBias are set; expected at most one bias");

        using var buffer = TestDevice.Engine.Accelerator.Allocate1D<Half>(30);
        Rejects(new AttentionOptions { DeviceHalfBias = new DeviceAttentionHalfBias(buffer.View, 1, 1, 5, 7) }, "DeviceHalfBias.SeqLenK is 7; expected k's seqlen 6");
        Rejects(new AttentionOptions { DeviceHalfBias = new DeviceAttentionHalfBias(buffer.View, 1, 1, 5, 6), HalfBias = AttentionHalfBias.Shared(new Half[30], 5, 6) },
            "HalfBias and DeviceHalfBias are set; expected at most one bias");
    }
}
