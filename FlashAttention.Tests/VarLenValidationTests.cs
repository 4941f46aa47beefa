using FlashAttention.Tests.Support;

namespace FlashAttention.Tests;

/// <summary>
/// Bad variable-length input (offsets, maximum lengths, packed shapes, options varlen refuses) raises
/// an ArgumentException naming the argument and the expected value, and writes nothing.
/// </summary>
public class VarLenValidationTests
{
    private const float Sentinel = 7f;

    private static HostTensor<float> Packed(int tokens, int heads, int dim) =>
        HostTensor<float>.Bshd(new RandomTensors(tokens * 100 + heads * 10 + dim).Array<float>((long)tokens * heads * dim), 1, tokens, heads, dim);

    // A valid call: sequences of (query, key) lengths (3, 5), (0, 2), (4, 1); 2 query heads, 1 key head, d 32.
    private static readonly int[] CuQ = [0, 3, 3, 7];
    private static readonly int[] CuK = [0, 5, 7, 8];

    private sealed record Call(HostTensor<float> Q, HostTensor<float> K, HostTensor<float> V, int[] CuQ, int[] CuK, int MaxQ, int MaxK,
        AttentionOptions Options, float[]? Lse);

    private static Call Valid() => new(Packed(7, 2, 32), Packed(8, 1, 32), Packed(8, 1, 32), CuQ, CuK, 4, 5,
        new AttentionOptions(), new float[2 * 7]);

    private static void Rejects(Call c, string param, string expectedText)
    {
        var output = new HostTensor<float>(new float[c.Q.Data.Length], c.Q.Layout);
        Array.Fill(output.Data, Sentinel);
        if (c.Lse is not null) Array.Fill(c.Lse, Sentinel);

        var act = () => TestDevice.Engine.ForwardVarLen(c.Q, c.K, c.V, output, c.Lse, c.CuQ, c.CuK, c.MaxQ, c.MaxK, c.Options);

        act.Should().Throw<ArgumentException>().Where(e => e.ParamName == param && e.Message.Contains(expectedText),
            $"the message should name '{param}' and say '{expectedText}'");
        output.Data.Should().OnlyContain(x => x == Sentinel, "nothing is written on invalid input");
        c.Lse?.Should().OnlyContain(x => x == Sentinel);
    }

    [Fact]
    public void The_valid_call_runs() => TestDevice.Engine.ForwardVarLen(Valid().Q, Valid().K, Valid().V, CuQ, CuK, 4, 5);

    [Fact]
    public void Offsets_of_different_lengths() =>
        Rejects(Valid() with { CuK = [0, 5, 8] }, "cuSeqLensK", "length is 3; expected batch + 1 = 4");

    [Fact]
    public void Offsets_too_short() =>
        Rejects(Valid() with { CuQ = [0], CuK = [0] }, "cuSeqLensQ", "length is 1; expected batch + 1 >= 2");

    [Fact]
    public void First_offset_not_zero() =>
        Rejects(Valid() with { CuQ = [1, 3, 3, 7] }, "cuSeqLensQ", "cuSeqLensQ[0] is 1; expected 0");

    [Fact]
    public void Decreasing_offsets() =>
        Rejects(Valid() with { CuK = [0, 5, 4, 8] }, "cuSeqLensK", "cuSeqLensK[2] is 4, less than cuSeqLensK[1] = 5; expected non-decreasing");

    [Fact]
    public void Last_offset_not_the_total() =>
        Rejects(Valid() with { CuQ = [0, 3, 3, 6] }, "cuSeqLensQ", "is 6; expected q's total tokens 7");

    [Fact]
    public void Max_seqlen_below_a_sequence() =>
        Rejects(Valid() with { MaxK = 4 }, "maxSeqLenK", "is 4; expected at least the longest sequence's length 5");

    [Fact]
    public void Max_seqlen_above_the_total() =>
        Rejects(Valid() with { MaxQ = 8 }, "maxSeqLenQ", "is 8; expected at most q's total tokens 7");

    [Fact]
    public void Padded_batch_instead_of_packed() =>
        Rejects(Valid() with { Q = HostTensor<float>.Bshd(new float[7 * 2 * 32], 7, 1, 2, 32) }, "q", "batch is 7; expected 1");

    [Fact]
    public void Heads_mismatch() =>
        Rejects(Valid() with { Q = Packed(7, 3, 32), Lse = null, K = Packed(8, 2, 32), V = Packed(8, 2, 32) }, "k",
            "expected a divisor of q's heads (3)");

    [Fact]
    public void Lse_of_the_padded_size() =>
        Rejects(Valid() with { Lse = new float[3 * 2 * 4] }, "lse", "expected heads_q * total_q = 14");

    [Fact]
    public void Alibi_slopes_per_sequence_count_sequences() =>
        Rejects(Valid() with { Options = new AttentionOptions { AlibiSlopes = new float[4] } }, "options",
            "expected heads_q = 2 (float32 [heads_q]) or batch * heads_q = 6");

    [Fact]
    public void Bias_tensors_are_refused() =>
        Rejects(Valid() with { Options = new AttentionOptions { Bias = new AttentionBias(new float[7 * 8], 1, 1, 7, 8) } }, "options",
            "bias tensors are not supported with variable-length batches");

    [Fact]
    public void Half_bias_tensors_are_refused() =>
        Rejects(Valid() with { Options = new AttentionOptions { HalfBias = new AttentionHalfBias(new Half[7 * 8], 1, 1, 7, 8) } }, "options",
            "bias tensors are not supported with variable-length batches");

    [Fact]
    public void Mask_tensors_are_refused() =>
        Rejects(Valid() with { Options = new AttentionOptions { Mask = AttentionBooleanMask.Shared(new bool[7 * 8], 7, 8) } }, "options",
            "mask tensors are not supported with variable-length batches");

    [Fact]
    public void Block_masks_are_refused() =>
        Rejects(Valid() with { Options = new AttentionOptions { BlockMask = new AttentionBlockMask([true], 1, 1, 1, 1) } }, "options",
            "block masks are not supported with variable-length batches");

    [Fact]
    public void Backward_needs_the_packed_lse()
    {
        var c = Valid();
        var forward = TestDevice.Engine.ForwardVarLen(c.Q, c.K, c.V, CuQ, CuK, 4, 5, new AttentionOptions { ReturnLse = true });
        var act = () => TestDevice.Engine.BackwardVarLen(c.Q, c.Q, c.K, c.V, forward.Output, new float[3 * 2 * 4], CuQ, CuK, 4, 5);
        act.Should().Throw<ArgumentException>().Where(e => e.ParamName == "lse" && e.Message.Contains("expected heads_q * total_q = 14"));
    }

    [Fact]
    public void Device_offsets_are_checked_too()
    {
        var c = Valid();
        var engine = TestDevice.Engine;
        using var q = engine.Accelerator.Allocate1D(c.Q.Data);
        using var k = engine.Accelerator.Allocate1D(c.K.Data);
        using var o = engine.Accelerator.Allocate1D<float>(c.Q.Data.Length);
        using var cuQ = engine.Accelerator.Allocate1D(new[] { 0, 3, 2, 7 });
        using var cuK = engine.Accelerator.Allocate1D(CuK);
        var act = () => engine.ForwardVarLen(new DeviceTensor<float>(q.View, c.Q.Layout), new DeviceTensor<float>(k.View, c.K.Layout),
            new DeviceTensor<float>(k.View, c.K.Layout), new DeviceTensor<float>(o.View, c.Q.Layout), default, cuQ.View, cuK.View, 4, 5);
        act.Should().Throw<ArgumentException>().Where(e => e.ParamName == "cuSeqLensQ" && e.Message.Contains("expected non-decreasing"));
    }
}
