using FlashAttention.Tests.Support;

namespace FlashAttention.Tests;

/// <summary>Bad bias, mask and dBias arguments raise an ArgumentException naming the option, the dimension and the expected value; nothing is written.</summary>
public class BiasMaskValidationTests
{
    private const float Sentinel = 7f;

    private static HostTensor<float> Tensor(int b, int n, int h, int d) =>
        HostTensor<float>.Bshd(new RandomTensors(b * 1000 + n * 10 + h + d).Array<float>((long)b * n * h * d), b, n, h, d);

    private static void Rejects(AttentionOptions options, string expectedText, int batch = 2, int heads = 2, int seqQ = 5, int seqK = 6)
    {
        var q = Tensor(batch, seqQ, heads, 32);
        var k = Tensor(batch, seqK, heads, 32);
        var output = new HostTensor<float>(Enumerable.Repeat(Sentinel, q.Data.Length).ToArray(), q.Layout);
        var act = () => TestDevice.Engine.Forward(q, k, k, output, null, options);
        act.Should().Throw<ArgumentException>().Where(e => e.ParamName == "options" && e.Message.Contains(expectedText),
            $"the message should name 'options' and say '{expectedText}'");
        output.Data.Should().OnlyContain(x => x == Sentinel, "nothing is written on invalid input");
    }

    private static AttentionBias Bias(int b, int h, int nq, int nk, long? length = null) =>
        new(new float[length ?? (long)b * h * nq * nk], b, h, nq, nk);

    [Theory]
    [InlineData(3, 1, 5, 6, "Bias.Batch is 3; expected 1 (broadcast) or q's batch 2")]
    [InlineData(1, 4, 5, 6, "Bias.Heads is 4; expected 1 (broadcast) or heads_q 2")]
    [InlineData(1, 1, 4, 6, "Bias.SeqLenQ is 4; expected q's seqlen 5")]
    [InlineData(1, 1, 5, 7, "Bias.SeqLenK is 7; expected k's seqlen 6")]
    public void Bias_dims(int b, int h, int nq, int nk, string text) => Rejects(new AttentionOptions { Bias = Bias(b, h, nq, nk) }, text);

    [Fact]
    public void Bias_data_length() =>
        Rejects(new AttentionOptions { Bias = Bias(1, 2, 5, 6, length: 59) },
            "Bias.Data has 59 elements; expected Batch * Heads * SeqLenQ * SeqLenK = 60 ([1, 2, 5, 6])");

    [Fact]
    public void Bias_NaN_is_rejected_and_negative_infinity_allowed()
    {
        var bias = Bias(1, 1, 5, 6);
        bias.Data[13] = float.NaN;
        Rejects(new AttentionOptions { Bias = bias }, "Bias.Data[13] is NaN; expected a number or -Infinity");

        bias.Data[13] = float.NegativeInfinity;
        var q = Tensor(2, 5, 2, 32);
        var k = Tensor(2, 6, 2, 32);
        var result = TestDevice.Engine.Forward(q, k, k, new AttentionOptions { Bias = bias, Kernel = KernelPath.Portable });
        result.Output.Data.Should().OnlyContain(x => float.IsFinite(x));
    }

    [Theory]
    [InlineData(2, 3, 5, 6, "Mask.Heads is 3; expected 1 (broadcast) or heads_q 2")]
    [InlineData(1, 1, 5, 5, "Mask.SeqLenK is 5; expected k's seqlen 6")]
    public void Mask_dims(int b, int h, int nq, int nk, string text) =>
        Rejects(new AttentionOptions { Mask = new AttentionBooleanMask(new bool[b * h * nq * nk], b, h, nq, nk) }, text);

    [Fact]
    public void Mask_data_length() =>
        Rejects(new AttentionOptions { Mask = new AttentionBooleanMask(new bool[10], 1, 1, 5, 6) },
            "Mask.Data has 10 elements; expected Batch * Heads * SeqLenQ * SeqLenK = 30");

    [Fact]
    public void Bias_gradient_without_a_bias() =>
        Rejects(new AttentionOptions { ReturnBiasGradient = true }, "ReturnBiasGradient is set but Bias is null");

    [Fact]
    public void Bias_gradient_of_the_wrong_length()
    {
        var q = Tensor(1, 5, 2, 32);
        var k = Tensor(1, 6, 2, 32);
        var options = new AttentionOptions { Bias = Bias(1, 2, 5, 6), ReturnLse = true };
        var forward = TestDevice.Engine.Forward(q, k, k, options);
        var dq = HostTensor<float>.Zeros(1, 5, 2, 32);
        var dk = HostTensor<float>.Zeros(1, 6, 2, 32);
        var dv = HostTensor<float>.Zeros(1, 6, 2, 32);
        var act = () => TestDevice.Engine.Backward(q, q, k, k, forward.Output, forward.Lse!, dq, dk, dv, new float[59], options);
        act.Should().Throw<ArgumentException>().Where(e => e.ParamName == "dBias" && e.Message.Contains("length is 59; expected the bias's 60 elements"));
    }
}
