using FlashAttention.Kernels.Portable;

namespace FlashAttention.Tests;

/// <summary>
/// The tile ranges the kernels loop over (<see cref="AttentionMask.KeyTileStart"/> .. KeyEnd for a
/// block of rows, QueryStart .. QueryEnd for a block of keys): they hold every visible pair, and
/// with a sliding window their size follows the window, not the sequence.
/// </summary>
public class AttentionMaskTests
{
    [Fact]
    public void Window_block_visits_only_the_tiles_around_its_diagonal()
    {
        var mask = new AttentionMask(4096, 4096, causal: false, windowLeft: 128, windowRight: 0);
        // Rows 2048 .. 2111 see keys 1920 .. 2111: tiles 1920 .. 2111 of 64 keys, three of the 64 tiles.
        mask.KeyTileStart(2048, 64).Should().Be(1920);
        mask.KeyEnd(2048 + 64).Should().Be(2112);
        // Keys 2048 .. 2111 are seen by rows 2048 .. 2239.
        mask.QueryStart(2048).Should().Be(2048);
        mask.QueryEnd(2048 + 64).Should().Be(2240);
    }

    [Fact]
    public void Work_grows_with_the_window_not_with_seqlen()
    {
        foreach (int n in new[] { 1024, 8192 })
        {
            var mask = new AttentionMask(n, n, causal: true, windowLeft: 256, windowRight: 0);
            long tiles = 0;
            for (int firstRow = 0; firstRow < n; firstRow += 64)
                tiles += TileCount(mask.KeyTileStart(firstRow, 64), mask.KeyEnd(firstRow + 64), 64);
            // At most (64 + 256) / 64 + 1 = 6 tiles per block, whatever seqlen is (full causal: n / 128 on average).
            (tiles / (n / 64)).Should().BeLessThanOrEqualTo(6, $"seqlen {n}");
        }
    }

    [Fact]
    public void Without_a_window_the_ranges_are_the_old_ones()
    {
        var full = new AttentionMask(203, 113, causal: false);
        full.KeyTileStart(64, 32).Should().Be(0);
        full.KeyEnd(128).Should().Be(113);
        full.QueryStart(64).Should().Be(0);
        full.QueryEnd(96).Should().Be(203);
        var causal = new AttentionMask(203, 113, causal: true);
        causal.KeyEnd(128).Should().Be(128 - 90);
        causal.QueryStart(64).Should().Be(64 + 90);
    }

    /// <summary>
    /// Every pair (i, j) that the mask lets through lies in the key range of i's row block and in the
    /// query range of j's key block, for windows, causal, seqlen_q above and below seqlen_k and odd
    /// tile sizes; and the ranges are tight: their first and last tiles hold a visible pair.
    /// </summary>
    [Theory]
    [InlineData(113, 203, false, 16, 8, 16, 32)]
    [InlineData(203, 113, true, 32, -1, 32, 16)]
    [InlineData(203, 113, false, 4, 2, 64, 32)]
    [InlineData(150, 203, false, 22, 5, 16, 16)]
    [InlineData(64, 64, false, 0, 0, 8, 8)]
    [InlineData(1, 203, false, 8, -1, 64, 32)]
    [InlineData(128, 16, false, -1, 2, 16, 16)]
    [InlineData(77, 130, true, 24, 24, 32, 64)]
    public void Ranges_hold_every_visible_pair_and_no_empty_end_tile(int nq, int nk, bool causal, int left, int right, int br, int bc)
    {
        var mask = new AttentionMask(nq, nk, causal, left, right);
        for (int firstRow = 0; firstRow < nq; firstRow += br)
        {
            int endRow = Math.Min(nq, firstRow + br);
            int start = mask.KeyTileStart(firstRow, bc), end = mask.KeyEnd(endRow);
            var visible = Enumerable.Range(0, nk).Where(j => Enumerable.Range(firstRow, endRow - firstRow).Any(i => !mask.IsMasked(i, j))).ToList();
            if (visible.Count == 0)
            {
                TileCount(start, end, bc).Should().Be(0, $"rows {firstRow}..{endRow} see no key");
                continue;
            }
            start.Should().BeLessThanOrEqualTo(visible.First(), $"rows {firstRow}..{endRow}");
            end.Should().BeGreaterThan(visible.Last(), $"rows {firstRow}..{endRow}");
            (visible.First() - start).Should().BeLessThan(bc, "the first key tile holds a visible key");
            end.Should().Be(visible.Last() + 1);
        }
        for (int firstCol = 0; firstCol < nk; firstCol += bc)
        {
            int endCol = Math.Min(nk, firstCol + bc);
            int start = mask.QueryStart(firstCol) / br * br, end = mask.QueryEnd(endCol);
            var seeing = Enumerable.Range(0, nq).Where(i => Enumerable.Range(firstCol, endCol - firstCol).Any(j => !mask.IsMasked(i, j))).ToList();
            if (seeing.Count == 0)
            {
                TileCount(start, end, br).Should().Be(0, $"keys {firstCol}..{endCol} are seen by no query");
                continue;
            }
            start.Should().BeLessThanOrEqualTo(seeing.First(), $"keys {firstCol}..{endCol}");
            (seeing.First() - start).Should().BeLessThan(br);
            end.Should().Be(seeing.Last() + 1, $"keys {firstCol}..{endCol}");
        }
    }

    [Fact]
    public void Causal_with_a_window_is_their_intersection()
    {
        var mask = new AttentionMask(10, 10, causal: true, windowLeft: 2, windowRight: 3);
        Enumerable.Range(0, 10).Where(j => !mask.IsMasked(5, j)).Should().Equal(3, 4, 5);
    }

    private static int TileCount(int start, int end, int tile) => end <= start ? 0 : (end - start + tile - 1) / tile;
}
