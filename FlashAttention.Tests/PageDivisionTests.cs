using FlashAttention.Kernels.Portable;

namespace FlashAttention.Tests;

/// <summary>The paged cache's division-free page lookup against integer division.</summary>
public class PageDivisionTests
{
    [Fact]
    public void Equals_integer_division_for_small_pages_and_keys()
    {
        for (int d = 1; d <= 300; d++)
        {
            var (magic, shift) = PageDivision.For(d);
            for (int n = 0; n <= 5000; n++)
                PageDivision.Column(n, magic, shift).Should().Be(n / d, "key {0}, page size {1}", n, d);
        }
    }

    [Fact]
    public void Equals_integer_division_near_the_largest_keys()
    {
        var rng = new Random(7);
        int[] sizes = [1, 2, 3, 7, 16, 24, 100, 255, 256, 257, 1000, 4096, 65535, 1 << 20, 1_000_003, int.MaxValue];
        foreach (int d in sizes)
        {
            var (magic, shift) = PageDivision.For(d);
            var keys = new List<int> { 0, 1, d - 1, int.MaxValue, int.MaxValue - 1 };
            if (d < int.MaxValue)
                keys.Add(d);
            for (int i = 0; i < 2000; i++)
                keys.Add(rng.Next());
            // Multiples of d and their neighbours, up to the top of the range: where a wrong rounding would show.
            for (long m = (long)int.MaxValue / d; m > 0 && keys.Count < 4000; m = m * 7 / 8)
            {
                long q = m * d;
                keys.AddRange(new[] { q - 1, q, q + 1 }.Where(x => x is >= 0 and <= int.MaxValue).Select(x => (int)x));
            }
            foreach (int n in keys)
                PageDivision.Column(n, magic, shift).Should().Be(n / d, "key {0}, page size {1}", n, d);
        }
    }

    [Fact]
    public void Refuses_a_page_size_below_one()
    {
        var act = () => PageDivision.For(0);
        act.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("pageSize");
    }
}
