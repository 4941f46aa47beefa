using FlashAttention.Kernels.Portable;

namespace FlashAttention.Kernels.Launch;

/// <summary>Packs boolean masks into <see cref="MaskBits"/> rows on one accelerator. Thread-safe.</summary>
public sealed class MaskBitsLauncher(Accelerator accelerator)
{
    private readonly Lazy<Action<AcceleratorStream, Index1D, ArrayView<byte>, ArrayView<uint>, MaskBitsShape>> kernel =
        new(() => accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<byte>, ArrayView<uint>, MaskBitsShape>(MaskBitsKernel.Run));

    private readonly Lazy<Action<AcceleratorStream, KernelConfig, ArrayView<uint>, ArrayView<byte>, ArrayView<byte>, MaskBlocksShape>> blocksKernel =
        new(() => accelerator.LoadKernel<ArrayView<uint>, ArrayView<byte>, ArrayView<byte>, MaskBlocksShape>(MaskBlocksKernel.Run));

    /// <summary>Key blocks per plane of <see cref="Blocks"/>' output for <paramref name="seqLenK"/> keys.</summary>
    public static int KeyBlocks(int seqLenK) => (seqLenK + MaskBlocksKernel.BlockSize - 1) / MaskBlocksKernel.BlockSize;

    /// <summary>Query blocks per plane of <see cref="Blocks"/>' output for <paramref name="seqLenQ"/> queries.</summary>
    public static int QueryBlocks(int seqLenQ) => (seqLenQ + MaskBlocksKernel.BlockSize - 1) / MaskBlocksKernel.BlockSize;

    /// <summary>
    /// Writes into <paramref name="blocks"/> (planes x <see cref="QueryBlocks"/> x <see cref="KeyBlocks"/> bytes) which
    /// 128 x 128 blocks of the packed mask <paramref name="words"/> (from <see cref="Pack"/>) keep any pair, and into
    /// <paramref name="hiddenRows"/> (planes x <see cref="QueryBlocks"/> bytes) which rows of blocks hide at least one,
    /// asynchronously on <paramref name="stream"/>.
    /// </summary>
    public void Blocks(AcceleratorStream stream, ArrayView<uint> words, ArrayView<byte> blocks, ArrayView<byte> hiddenRows, long planes, int seqLenQ, int seqLenK)
    {
        long total = planes * QueryBlocks(seqLenQ) * KeyBlocks(seqLenK);
        if (blocks.Length < total)
            throw new ArgumentException($"blocks holds {blocks.Length} bytes; expected at least {total}", nameof(blocks));
        if (hiddenRows.Length < planes * QueryBlocks(seqLenQ))
            throw new ArgumentException($"hiddenRows holds {hiddenRows.Length} bytes; expected at least {planes * QueryBlocks(seqLenQ)}", nameof(hiddenRows));
        if (words.Length < planes * seqLenQ * MaskBits.WordsFor(seqLenK))
            throw new ArgumentException($"words holds {words.Length} words; expected at least {planes * seqLenQ * MaskBits.WordsFor(seqLenK)}", nameof(words));
        if (total > 0)
        {
            if (total > int.MaxValue)
                throw new ArgumentException($"the mask has {total} blocks of 128 x 128; at most {int.MaxValue} are supported", nameof(blocks));
            hiddenRows.SubView(0, planes * QueryBlocks(seqLenQ)).MemSetToZero(stream);
            blocksKernel.Value(stream, new KernelConfig((int)total, MaskBlocksKernel.BlockSize), words, blocks, hiddenRows, new MaskBlocksShape
            {
                SeqLenQ = seqLenQ, WordsPerRow = MaskBits.WordsFor(seqLenK), QueryBlocks = QueryBlocks(seqLenQ), KeyBlocks = KeyBlocks(seqLenK),
            });
        }
    }

    /// <summary>
    /// Packs <paramref name="mask"/> (bytes, nonzero = keep, [planes][seqlen_q][seqlen_k] contiguous)
    /// into <paramref name="words"/> (planes x seqlen_q x <see cref="MaskBits.WordsFor"/>(seqlen_k) words),
    /// asynchronously on <paramref name="stream"/>.
    /// </summary>
    public void Pack(AcceleratorStream stream, ArrayView<byte> mask, ArrayView<uint> words, long planes, int seqLenQ, int seqLenK)
    {
        int perRow = MaskBits.WordsFor(seqLenK);
        long total = planes * seqLenQ * perRow;
        if (words.Length < total)
            throw new ArgumentException($"words holds {words.Length} words; expected at least {total}", nameof(words));
        if (total > int.MaxValue)
            throw new ArgumentException($"the mask packs into {total} words; at most {int.MaxValue} are supported", nameof(mask));
        if (total > 0)
            kernel.Value(stream, (int)total, mask, words, new MaskBitsShape { SeqLenK = seqLenK, WordsPerRow = perRow });
    }
}
