using FlashAttention.Kernels.Launch;
using FlashAttention.Kernels.Portable;

namespace FlashAttention;

public sealed partial class AttentionEngine
{
    // The call's mask packed to bits for the tensor-core kernel (or a two-word placeholder), reused between calls.
    private MemoryBuffer1D<uint, Stride1D.Dense>? maskBitsBuffer;

    // The block mask derived from the packed bits, reused between calls.
    private MemoryBuffer1D<byte, Stride1D.Dense>? maskBlocksBuffer;

    /// <summary>Experiments only: FLASH_MASK_BLOCKS=0 leaves hidden blocks of a mask to be computed (no derived block mask).</summary>
    private static readonly bool DeriveMaskBlocks = Environment.GetEnvironmentVariable("FLASH_MASK_BLOCKS") != "0";

    /// <summary>
    /// Whether a tensor-core call takes its mask as bits (<see cref="MaskBits"/>): a mask and nothing
    /// the <c>BitMaskScores</c> kernel lacks (bias, soft cap, ALiBi, dropout). Such a call then runs
    /// the plain kernel's tiles, not the 16-row warps of the bias/mask kernel.
    /// </summary>
    private static bool TakesMaskBits(AttentionOptions options) =>
        LogitTensorShape.MaskOf(options) is not null && LogitTensorShape.BiasOf(options) is null
        && options.Softcap == 0 && options.AlibiSlopes is null && options.DropoutP == 0;

    /// <summary>The placeholder of a launch without packed bits (a real two-word view, never read).</summary>
    private MaskBits NoMaskBits() => new() { Enabled = 0, Words = Upload(ref maskBitsBuffer, ReadOnlySpan<uint>.Empty, 2) };

    /// <summary>
    /// Packs the launch's uploaded byte mask into bits on the default stream (after the upload, before
    /// the launch) and points the launch at them instead of the bytes.
    /// </summary>
    /// <remarks><paramref name="deriveBlocks"/>: the tile's query blocks lie inside the derived 128-row blocks.</remarks>
    private void UseMaskBits<T>(ref ForwardParams<T> p, AttentionOptions options, bool deriveBlocks) where T : unmanaged
    {
        var shape = LogitTensorShape.MaskOf(options)!.Value;
        int words = MaskBits.WordsFor(p.SeqLenK);
        long rowWords = (long)p.SeqLenQ * words;
        long total = (long)shape.Batch * shape.Heads * rowWords;
        var view = Upload(ref maskBitsBuffer, ReadOnlySpan<uint>.Empty, Math.Max(2, total));
        maskBitsLauncher.Pack(Accelerator.DefaultStream, p.Scores.Elements.Mask, view, (long)shape.Batch * shape.Heads, p.SeqLenQ, p.SeqLenK);
        p.Bits = new MaskBits
        {
            Enabled = 1,
            WordsPerRow = words,
            SeqLenQ = p.SeqLenQ,
            Words = view,
            BatchStride = shape.Batch > 1 ? shape.Heads * rowWords : 0,
            HeadStride = shape.Heads > 1 ? rowWords : 0,
        };
        p.Scores.Elements.HasMask = 0;
        if (p.Blocks.Active == 0 && DeriveMaskBlocks && deriveBlocks)
            p.Blocks = MaskBlocks(view, shape, p.SeqLenQ, p.SeqLenK);
    }

    /// <summary>
    /// The block mask the packed mask implies (<see cref="MaskBlocksKernel"/>), for a call without a block mask of
    /// its own: the kernel then skips every 128 x 128 block the mask hides whole, as for an <see cref="AttentionBlockMask"/>.
    /// </summary>
    private BlockSparsity MaskBlocks(ArrayView<uint> words, LogitTensorShape shape, int seqLenQ, int seqLenK)
    {
        long planes = (long)shape.Batch * shape.Heads;
        int queryBlocks = MaskBitsLauncher.QueryBlocks(seqLenQ), keyBlocks = MaskBitsLauncher.KeyBlocks(seqLenK);
        long plane = (long)queryBlocks * keyBlocks;
        // One buffer: the block flags, then a byte per row of blocks (whether the row hides any).
        var buffer = Upload(ref maskBlocksBuffer, ReadOnlySpan<byte>.Empty, Math.Max(1, planes * (plane + queryBlocks)));
        var view = buffer.SubView(0, Math.Max(1, planes * plane));
        var hiddenRows = buffer.SubView(planes * plane, planes * queryBlocks);
        maskBitsLauncher.Blocks(Accelerator.DefaultStream, words, view, hiddenRows, planes, seqLenQ, seqLenK);
        return new BlockSparsity
        {
            Active = 1,
            Blocks = view,
            RowSummary = 1,
            HiddenRows = hiddenRows,
            HeadStride = shape.Heads > 1 ? plane : 0,
            BatchStride = shape.Batch > 1 ? plane * shape.Heads : 0,
            KeyBlocks = keyBlocks,
            BlockSizeQ = MaskBlocksKernel.BlockSize,
            BlockSizeK = MaskBlocksKernel.BlockSize,
            KeyShift = System.Numerics.BitOperations.Log2(MaskBlocksKernel.BlockSize),
        };
    }
}
