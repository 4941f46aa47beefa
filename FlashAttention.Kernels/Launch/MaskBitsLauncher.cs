using FlashAttention.Kernels.Portable;

namespace FlashAttention.Kernels.Launch;

/// <summary>Packs boolean masks into <see cref="MaskBits"/> rows on one accelerator. Thread-safe.</summary>
public sealed class MaskBitsLauncher(Accelerator accelerator)
{
    private readonly Lazy<Action<AcceleratorStream, Index1D, ArrayView<byte>, ArrayView<uint>, MaskBitsShape>> kernel =
        new(() => accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<byte>, ArrayView<uint>, MaskBitsShape>(MaskBitsKernel.Run));

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
