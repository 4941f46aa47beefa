using FlashAttention.Kernels.Launch;
using FlashAttention.Kernels.Portable;
using FlashAttention.Tests.Support;

namespace FlashAttention.Tests;

/// <summary>The boolean mask packed to bits for the tensor-core kernel (<see cref="MaskBits"/>), word by word against the bytes.</summary>
public class MaskBitsTests
{
    [Theory]
    [InlineData(1, 1, 1)] [InlineData(2, 5, 203)] [InlineData(3, 7, 64)] [InlineData(1, 3, 65)]
    public void Packs_every_key_of_every_row(int planes, int seqQ, int seqK)
    {
        var accelerator = TestDevice.Engine.Accelerator;
        var rng = new Random(seqQ * 1000 + seqK);
        var mask = new byte[planes * seqQ * seqK];
        for (int e = 0; e < mask.Length; e++)
            mask[e] = (byte)(rng.NextDouble() < 0.6 ? 1 + rng.Next(255) : 0); // any nonzero byte keeps
        int perRow = MaskBits.WordsFor(seqK);
        using var bytes = accelerator.Allocate1D(mask);
        using var words = accelerator.Allocate1D(Enumerable.Repeat(0xDEADBEEFu, planes * seqQ * perRow).ToArray());

        new MaskBitsLauncher(accelerator).Pack(accelerator.DefaultStream, bytes.View, words.View, planes, seqQ, seqK);
        accelerator.Synchronize();
        var packed = words.GetAsArray1D();

        for (int row = 0; row < planes * seqQ; row++)
        for (int w = 0; w < perRow; w++)
        {
            uint expected = 0;
            for (int j = 0; j < 32 && w * 32 + j < seqK; j++)
                expected |= mask[row * seqK + w * 32 + j] != 0 ? 1u << j : 0u;
            packed[row * perRow + w].Should().Be(expected, $"row {row}, word {w} (keys past seqlen_k are 0)");
        }
    }

    /// <summary>
    /// The block mask derived from the bits, against the blocks computed here from the bytes: odd sizes (a
    /// last block cut short in both directions, a last row of words shorter than a block), empty blocks
    /// beside blocks that keep a single pair, several planes; and the rows of blocks that hide any. The outputs are poisoned first.
    /// </summary>
    [Theory]
    [InlineData(1, 1, 1)] [InlineData(2, 203, 130)] [InlineData(3, 129, 300)] [InlineData(1, 300, 65)] [InlineData(2, 300, 520)]
    public void Derives_which_blocks_keep_any_pair(int planes, int seqQ, int seqK)
    {
        var accelerator = TestDevice.Engine.Accelerator;
        var rng = new Random(seqQ * 7 + seqK);
        var mask = new byte[planes * seqQ * seqK];
        int perRow = MaskBits.WordsFor(seqK);
        int qBlocks = MaskBitsLauncher.QueryBlocks(seqQ), kBlocks = MaskBitsLauncher.KeyBlocks(seqK);
        // Per 128 x 128 block: nothing kept (half of them), one random pair, or 30 % of its pairs.
        for (int p = 0; p < planes; p++)
        for (int qb = 0; qb < qBlocks; qb++)
        for (int kb = 0; kb < kBlocks; kb++)
        {
            double kind = rng.NextDouble();
            int rows = Math.Min(seqQ, qb * 128 + 128) - qb * 128, cols = Math.Min(seqK, kb * 128 + 128) - kb * 128;
            if (kind < 0.5)
                continue;
            if (kind < 0.75)
            {
                // In the block's last rows or last word half of the time: the reads a short loop would miss.
                int i = rng.Next(2) == 0 ? rows - 1 - rng.Next(Math.Min(rows, 8)) : rng.Next(rows);
                int j = rng.Next(2) == 0 ? cols - 1 - rng.Next(Math.Min(cols, 32)) : rng.Next(cols);
                mask[(p * seqQ + qb * 128 + i) * seqK + kb * 128 + j] = 1;
                continue;
            }
            for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++)
                mask[(p * seqQ + qb * 128 + i) * seqK + kb * 128 + j] = (byte)(rng.NextDouble() < 0.3 ? 1 + rng.Next(255) : 0);
        }
        mask[^1] = 1; // the very last pair: a block cut short in both directions keeps it
        using var bytes = accelerator.Allocate1D(mask);
        using var words = accelerator.Allocate1D<uint>(planes * seqQ * perRow);
        using var blocks = accelerator.Allocate1D(Enumerable.Repeat((byte)0xAB, planes * qBlocks * kBlocks).ToArray());
        using var hiddenRows = accelerator.Allocate1D(Enumerable.Repeat((byte)0xAB, planes * qBlocks).ToArray());

        var launcher = new MaskBitsLauncher(accelerator);
        launcher.Pack(accelerator.DefaultStream, bytes.View, words.View, planes, seqQ, seqK);
        launcher.Blocks(accelerator.DefaultStream, words.View, blocks.View, hiddenRows.View, planes, seqQ, seqK);
        accelerator.Synchronize();
        var derived = blocks.GetAsArray1D();
        var rowHides = hiddenRows.GetAsArray1D();

        for (int p = 0; p < planes; p++)
        for (int qb = 0; qb < qBlocks; qb++)
        for (int kb = 0; kb < kBlocks; kb++)
        {
            bool any = false;
            for (int i = qb * 128; i < Math.Min(seqQ, qb * 128 + 128); i++)
            for (int j = kb * 128; j < Math.Min(seqK, kb * 128 + 128); j++)
                any |= mask[(p * seqQ + i) * seqK + j] != 0;
            derived[(p * qBlocks + qb) * kBlocks + kb].Should().Be(any ? (byte)1 : (byte)0, $"plane {p}, block ({qb}, {kb})");
        }
        for (int p = 0; p < planes; p++)
        for (int qb = 0; qb < qBlocks; qb++)
        {
            bool hides = Enumerable.Range(0, kBlocks).Any(kb => derived[(p * qBlocks + qb) * kBlocks + kb] == 0);
            rowHides[p * qBlocks + qb].Should().Be(hides ? (byte)1 : (byte)0, $"plane {p}, block row {qb}");
        }
    }

    [Theory]
    [InlineData(1)] [InlineData(63)] [InlineData(64)] [InlineData(65)] [InlineData(203)]
    public void Rows_hold_an_even_number_of_words(int seqK)
    {
        int words = MaskBits.WordsFor(seqK);
        (words % 2).Should().Be(0);
        (words * 32).Should().BeGreaterThanOrEqualTo(seqK).And.BeLessThan(seqK + 64);
    }
}
