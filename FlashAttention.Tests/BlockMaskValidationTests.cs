using FlashAttention.Tests.Support;

namespace FlashAttention.Tests;

/// <summary>A block mask of the wrong shape or block size is refused by name, and nothing is written.</summary>
public class BlockMaskValidationTests
{
    private static void Refused(AttentionBlockMask blocks, string expectedText)
    {
        var rng = new RandomTensors(5);
        var q = rng.Bshd<float>(2, 200, 2, 32);
        var output = HostTensor<float>.Bshd(Enumerable.Repeat(float.NaN, q.Data.Length).ToArray(), 2, 200, 2, 32);
        var act = () => TestDevice.Engine.Forward(q, q, q, output, null, new AttentionOptions { BlockMask = blocks });
        act.Should().Throw<ArgumentException>().Where(e => e.ParamName == "options" && e.Message.Contains(expectedText),
            $"expected a message containing '{expectedText}'");
        output.Data.Should().OnlyContain(x => float.IsNaN(x), "nothing may be written");
    }

    [Fact]
    public void Block_size_not_a_multiple_of_128() =>
        Refused(new AttentionBlockMask(new bool[4], 1, 1, 2, 2, BlockSizeQ: 100, BlockSizeK: 128),
            "BlockMask.BlockSizeQ is 100; expected a positive multiple of 128");

    [Fact]
    public void Wrong_number_of_query_blocks() =>
        Refused(new AttentionBlockMask(new bool[3], 1, 1, 3, 1, BlockSizeK: 256),
            "BlockMask.QueryBlocks is 3; expected ceil(seqlen_q 200 / BlockSizeQ 128) = 2");

    [Fact]
    public void Wrong_number_of_key_blocks() =>
        Refused(new AttentionBlockMask(new bool[2], 1, 1, 2, 1), "BlockMask.KeyBlocks is 1; expected ceil(seqlen_k 200 / BlockSizeK 128) = 2");

    [Fact]
    public void Heads_neither_one_nor_heads_q() =>
        Refused(new AttentionBlockMask(new bool[12], 1, 3, 2, 2), "BlockMask.Heads is 3; expected 1 (broadcast) or heads_q 2");

    [Fact]
    public void Batch_neither_one_nor_batch() =>
        Refused(new AttentionBlockMask(new bool[12], 3, 1, 2, 2), "BlockMask.Batch is 3; expected 1 (broadcast) or q's batch 2");

    [Fact]
    public void Blocks_of_the_wrong_length() =>
        Refused(new AttentionBlockMask(new bool[5], 1, 1, 2, 2), "BlockMask.Blocks has 5 elements; expected Batch * Heads * QueryBlocks * KeyBlocks = 4");

    [Fact]
    public void A_three_warpgroup_tile_refuses_blocks_its_192_rows_do_not_divide()
    {
        var rng = new RandomTensors(6);
        var q = rng.Bshd<Half>(1, 200, 2, 64);
        var output = HostTensor<Half>.Bshd(Enumerable.Repeat(Half.NaN, q.Data.Length).ToArray(), 1, 200, 2, 64);
        var options = new AttentionOptions
        {
            Kernel = KernelPath.TensorCore,
            TensorCoreTile = new TensorCoreTile(12, 1, Wgmma: true),
            BlockMask = new AttentionBlockMask(new bool[4], 1, 1, 2, 2),
        };
        var act = () => TestDevice.TensorCoreEngine.Forward(q, q, q, output, null, options);
        act.Should().Throw<ArgumentException>().Where(e => e.ParamName == "options")
            .WithMessage("*Warps=12 has 192-row query blocks, which do not divide BlockMask.BlockSizeQ 128*");
        output.Data.Should().OnlyContain(x => Half.IsNaN(x), "nothing may be written");
    }

    [Fact]
    public void FromMask_refuses_a_block_size_not_a_multiple_of_128()
    {
        var act = () => AttentionBlockMask.FromMask(AttentionBooleanMask.Shared(new bool[4], 2, 2), blockSizeK: 64);
        act.Should().Throw<ArgumentOutOfRangeException>().Where(e => e.ParamName == "blockSizeK");
    }
}
