using FlashAttention.Tests.Support;

namespace FlashAttention.Tests;

/// <summary>
/// The block mask (<see cref="AttentionOptions.BlockMask"/>, 128 x 128 blocks): forward on both portable
/// kernels and the tensor-core kernel (CPU emulation), backward, against the float64 reference with
/// NaN-poisoned outputs. The kernels never test a pair against the block mask, they only skip the
/// tiles of hidden blocks: a tile computed by mistake changes the result, a tile skipped by mistake
/// too, so these cases check the skipping itself. Query block 1 is hidden entirely in every case
/// (its rows: output 0, LSE -inf).
/// </summary>
public class BlockMaskTests
{
    public static TheoryData<string, ForwardCase> PortableCases() => PortableVariants.OnBoth(
    [
        // One block mask for every batch item and head; 3 x 3 blocks, partial last blocks, GQA.
        ("float32", new(1, 300, 330, 2, 1, 64, Causal: false, BlockDims: [1, 1])),
        // Per (batch, head), with causal, a boolean mask and seqlen_q > seqlen_k.
        ("float16", new(2, 270, 140, 2, 2, 40, Causal: true, MaskDims: [1, 2], BlockDims: [2, 2])),
    ]);

    [Theory]
    [MemberData(nameof(PortableCases))]
    public void Portable_forward_matches_reference(string dtype, ForwardCase c) => ElementTypes.Run(dtype, c, TestDevice.Engine);

    /// <summary>The tensor-core kernel skips hidden tiles in its cp.async pipeline (the next K tile it fetches is the next visible one).</summary>
    /// <remarks>One tile on the CPU (each tensor-core specialisation costs CI ~15 s there): 32-row warps, 32-key tiles.</remarks>
    [Theory]
    [InlineData(32, 32)]
    public void Tensor_core_forward_matches_reference(int warpRows, int bc) =>
        ElementTypes.Run("float16", new ForwardCase(1, 260, 400, 1, 1, 64, Causal: false, Kernel: KernelPath.TensorCore,
            TensorCoreTile: new TensorCoreTile(4, WarpRows: warpRows, Bc: bc), BlockDims: [1, 1]), TestDevice.TensorCoreEngine);

    public static TheoryData<string, BackwardCase> BackwardCases() => new()
    {
        { "float32", new(1, 300, 330, 2, 1, 64, Causal: false, BlockDims: [1, 1]) },
        { "float16", new(1, 270, 140, 1, 1, 40, Causal: true, BiasDims: [1, 1], BiasGradient: true, BlockDims: [1, 1]) },
    };

    [Theory]
    [MemberData(nameof(BackwardCases))]
    public void Backward_matches_reference(string dtype, BackwardCase c) => ElementTypes.Run(dtype, c, TestDevice.Engine);

    /// <summary>
    /// <see cref="AttentionBlockMask.FromMask"/> with its mask gives the mask's result: only tiles the mask
    /// hides entirely are skipped (here the rows 128-255 and the keys 128-255 of every row).
    /// </summary>
    [Fact]
    public void FromMask_skips_only_what_the_mask_hides()
    {
        int n = 300;
        var keep = new bool[n * n];
        for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            keep[i * n + j] = i / 128 != 1 && j / 128 != 1 && (i + j) % 3 != 0;
        var mask = AttentionBooleanMask.Shared(keep, n, n);
        var blocks = AttentionBlockMask.FromMask(mask);
        blocks.Blocks.Should().Equal(true, false, true, false, false, false, true, false, true);

        var rng = new RandomTensors(4242);
        var q = rng.Bshd<float>(1, n, 1, 32);
        var k = rng.Bshd<float>(1, n, 1, 32);
        var v = rng.Bshd<float>(1, n, 1, 32);
        var plain = new AttentionOptions { Mask = mask, ReturnLse = true, Kernel = KernelPath.Portable };
        var withBlocks = TestDevice.Engine.Forward(q, k, v, plain with { BlockMask = blocks });
        var reference = TestDevice.Engine.Forward(q, k, v, plain);
        for (int e = 0; e < withBlocks.Output.Data.Length; e++)
            withBlocks.Output.Data[e].Should().BeApproximately(reference.Output.Data[e], 1e-6f, $"element {e}");
        withBlocks.Lse.Should().Equal(reference.Lse);
    }
}
