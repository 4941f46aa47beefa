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

    [Theory]
    [InlineData(1)] [InlineData(63)] [InlineData(64)] [InlineData(65)] [InlineData(203)]
    public void Rows_hold_an_even_number_of_words(int seqK)
    {
        int words = MaskBits.WordsFor(seqK);
        (words % 2).Should().Be(0);
        (words * 32).Should().BeGreaterThanOrEqualTo(seqK).And.BeLessThan(seqK + 64);
    }
}
