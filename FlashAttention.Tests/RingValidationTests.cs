using FlashAttention.Tests.Support;

namespace FlashAttention.Tests;

/// <summary>The ring refuses what it cannot run with an exception naming the argument and the expected value, before any device starts.</summary>
public class RingValidationTests
{
    private const float Sentinel = 7f;

    private static HostTensor<float> Tensor(int n, int h, int d = 32) =>
        HostTensor<float>.Bshd(new RandomTensors(n * 10 + h + d).Array<float>((long)n * h * d), 1, n, h, d);

    private static void Rejects(string param, string text, AttentionOptions? options = null, HostTensor<float>? k = null, HostTensor<float>? v = null)
    {
        var q = Tensor(8, 2);
        k ??= Tensor(8, 2);
        v ??= k;
        var output = new HostTensor<float>(new float[q.Data.Length], q.Layout);
        Array.Fill(output.Data, Sentinel);
        var lse = Enumerable.Repeat(Sentinel, 16).ToArray();
        var act = () => RingEngines.Ring(2).Forward(q, k, v, output, lse, options);
        act.Should().Throw<ArgumentException>().Where(e => e.ParamName == param && e.Message.Contains(text),
            $"the message should name '{param}' and say '{text}'");
        output.Data.Should().OnlyContain(x => x == Sentinel, "nothing is written on invalid input");
        lse.Should().OnlyContain(x => x == Sentinel);
    }

    [Fact]
    public void No_engines() =>
        FluentActions.Invoking(() => new RingAttention([])).Should().Throw<ArgumentException>()
            .Where(e => e.ParamName == "engines" && e.Message.Contains("expected at least 1 engine"));

    [Fact]
    public void One_accelerator_twice()
    {
        var e = RingEngines.Take(1)[0];
        FluentActions.Invoking(() => new RingAttention([e, e])).Should().Throw<ArgumentException>()
            .Where(x => x.ParamName == "engines" && x.Message.Contains("engines[1] runs on the accelerator of engines[0]"));
    }

    [Fact]
    public void Keys_of_another_length() => Rejects("k", "seqlen is 9; expected q's seqlen 8", k: Tensor(9, 2));

    [Fact]
    public void Query_heads_not_a_multiple() => Rejects("k", "expected a divisor of q's heads (2)", k: Tensor(8, 3));

    [Fact]
    public void Head_dims_differ() => Rejects("k", "head dim is 64; expected 32", k: Tensor(8, 2, 64));

    public static TheoryData<string, AttentionOptions> Unsupported() => new()
    {
        { "Window", new AttentionOptions { Window = new AttentionWindow(4, 0) } },
        { "AlibiSlopes", new AttentionOptions { AlibiSlopes = [0.5f, 0.25f] } },
        { "Bias", new AttentionOptions { Bias = AttentionBias.Shared(new float[64], 8, 8) } },
        { "HalfBias", new AttentionOptions { HalfBias = AttentionHalfBias.Shared(new Half[64], 8, 8) } },
        { "Mask", new AttentionOptions { Mask = AttentionBooleanMask.Shared(Enumerable.Repeat(true, 64).ToArray(), 8, 8) } },
        { "BlockMask", new AttentionOptions { BlockMask = new AttentionBlockMask([true], 1, 1, 1, 1) } },
        { "DropoutP", new AttentionOptions { DropoutP = 0.1f } },
    };

    [Theory]
    [MemberData(nameof(Unsupported))]
    public void Unsupported_option(string option, AttentionOptions options) => Rejects("options", $"{option} is set; expected", options);

    [Fact]
    public void Tensor_cores_with_float32() =>
        Rejects("options", "the tensor-core kernel takes Half or BFloat16", new AttentionOptions { Kernel = KernelPath.TensorCore });

    [Fact]
    public void Backward_without_lse()
    {
        var q = Tensor(8, 2);
        var dq = new HostTensor<float>(Enumerable.Repeat(Sentinel, q.Data.Length).ToArray(), q.Layout);
        var dk = new HostTensor<float>(Enumerable.Repeat(Sentinel, q.Data.Length).ToArray(), q.Layout);
        var dv = new HostTensor<float>(Enumerable.Repeat(Sentinel, q.Data.Length).ToArray(), q.Layout);
        var act = () => RingEngines.Ring(2).Backward(q, q, q, q, q, [], dq, dk, dv);
        act.Should().Throw<ArgumentException>().Where(e => e.ParamName == "lse" && e.Message.Contains("missing"));
        dq.Data.Concat(dk.Data).Concat(dv.Data).Should().OnlyContain(x => x == Sentinel);
    }

    [Fact]
    public void Backward_dk_of_another_shape()
    {
        var q = Tensor(8, 2);
        var act = () => RingEngines.Ring(2).Backward(q, q, q, q, q, new float[16], q, Tensor(8, 1), q);
        act.Should().Throw<ArgumentException>().Where(e => e.ParamName == "dk" && e.Message.Contains("expected k's shape"));
    }

    [Fact]
    public void Device_form_with_a_shard_per_engine_missing()
    {
        var ring = RingEngines.Ring(2);
        var t = DeviceTensor<float>.Bshd(default, 1, 4, 2, 32);
        var act = () => ring.Forward(8, [new RingShard<float>(t, t, t)], [t], null);
        act.Should().Throw<ArgumentException>().Where(e => e.ParamName == "shards" && e.Message.Contains("count is 1; expected one per engine (2)"));
    }

    [Fact]
    public void Device_form_with_a_shard_of_another_length()
    {
        var ring = RingEngines.Ring(2);
        using var buffer = ring.Engines[0].Accelerator.Allocate1D<float>(5 * 2 * 32);
        var t = DeviceTensor<float>.Bshd(buffer.View, 1, 5, 2, 32);
        // seqlen 8 over 2 devices, causal: 4 chunks of 2, each device holds 4 positions.
        var act = () => ring.Forward(8, [new RingShard<float>(t, t, t), new RingShard<float>(t, t, t)], [t, t], null, new AttentionOptions { Causal = true });
        act.Should().Throw<ArgumentException>().Where(e => e.ParamName == "shards" && e.Message.Contains("shards[0].Q seqlen is 5; expected device 0's shard length 4"));
    }
}
