namespace FlashAttention.Tests;

/// <summary>
/// The ring's split and schedule, on the host: chunks cover the sequence with lengths at most 1 apart,
/// every shard visits every device once, the blocks compute each visible (query, key) pair exactly
/// once and no hidden one, and the causal zigzag gives every device the same work.
/// </summary>
public class RingLayoutTests
{
    private static readonly int[] Lengths = [1, 2, 3, 5, 7, 16, 37, 64, 113, 203];

    public static TheoryData<int, bool> Rings()
    {
        var data = new TheoryData<int, bool>();
        for (int n = 1; n <= 5; n++)
        {
            data.Add(n, false);
            data.Add(n, true);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Rings))]
    public void Chunks_cover_the_sequence_evenly(int devices, bool causal)
    {
        foreach (int s in Lengths)
        {
            var layout = RingLayout.Create(s, devices, causal);
            layout.Chunks.Should().HaveCount(causal ? 2 * devices : devices);
            int at = 0;
            foreach (var c in layout.Chunks)
            {
                c.Start.Should().Be(at, $"chunk {c.Index} of seqlen {s} starts where the previous one ended");
                at += c.Length;
            }
            at.Should().Be(s);
            (layout.Chunks.Max(c => c.Length) - layout.Chunks.Min(c => c.Length)).Should().BeLessThanOrEqualTo(1);
            Enumerable.Range(0, devices).Sum(layout.ShardLength).Should().Be(s);
            if (causal)
                for (int d = 0; d < devices; d++)
                    layout.ChunksOf(d).Select(c => c.Index).Should().Equal(d, 2 * devices - 1 - d); // zigzag
        }
    }

    [Theory]
    [MemberData(nameof(Rings))]
    public void Every_shard_visits_every_device_once(int devices, bool causal)
    {
        var layout = RingLayout.Create(10, devices, causal);
        for (int d = 0; d < devices; d++)
            Enumerable.Range(0, devices).Select(s => layout.ShardSource(d, s)).Should().BeEquivalentTo(Enumerable.Range(0, devices));
        for (int s = 0; s < devices; s++)
            Enumerable.Range(0, devices).Select(d => layout.ShardSource(d, s)).Should().OnlyHaveUniqueItems();
    }

    /// <summary>Counts, over all devices and steps, how often each (query, key) pair is computed.</summary>
    [Theory]
    [MemberData(nameof(Rings))]
    public void Blocks_compute_each_visible_pair_once(int devices, bool causal)
    {
        foreach (int s in Lengths)
        {
            var layout = RingLayout.Create(s, devices, causal);
            var count = new int[s, s];
            for (int d = 0; d < devices; d++)
            for (int step = 0; step < devices; step++)
            {
                int[] keys = [.. layout.ChunksOf(layout.ShardSource(d, step)).SelectMany(c => Enumerable.Range(c.Start, c.Length))];
                foreach (var block in layout.Blocks(d, step))
                {
                    block.KeyLength.Should().BeInRange(1, keys.Length);
                    block.Query.Device.Should().Be(d);
                    for (int t = 0; t < block.Query.Length; t++)
                    for (int j = 0; j < block.KeyLength; j++)
                        if (!block.Causal || j <= block.KeyLength - block.Query.Length + t) // bottom-right aligned
                            count[block.Query.Start + t, keys[j]]++;
                }
            }
            for (int i = 0; i < s; i++)
            for (int j = 0; j < s; j++)
                count[i, j].Should().Be(!causal || j <= i ? 1 : 0, $"pair ({i}, {j}) of seqlen {s} over {devices} devices");
        }
    }

    /// <summary>
    /// Zigzag: chunks i and 2N - 1 - i see i + 1 and 2N - i key chunks, 2N + 1 on every device; in
    /// positions the devices are equal when 2N divides the length and within a few rows' work otherwise.
    /// A contiguous split would give the last device 2N - 1 times the first one's work.
    /// </summary>
    [Theory]
    [InlineData(2)] [InlineData(3)] [InlineData(4)] [InlineData(8)]
    public void Causal_zigzag_balances_the_work(int devices)
    {
        foreach (int s in Lengths.Append(16 * devices).Append(1024))
        {
            var layout = RingLayout.Create(s, devices, causal: true);
            for (int d = 0; d < devices; d++)
                layout.VisibleChunkPairs(d).Should().Be(2 * devices + 1);
            long[] pairs = [.. Enumerable.Range(0, devices).Select(layout.VisiblePairs)];
            pairs.Sum().Should().Be((long)s * (s + 1) / 2, "the devices together compute the causal triangle");
            if (s % (2 * devices) == 0)
                pairs.Should().AllBeEquivalentTo(pairs[0], $"seqlen {s} splits evenly");
            else
                (pairs.Max() - pairs.Min()).Should().BeLessThanOrEqualTo(2L * s, $"seqlen {s}: chunks one row longer on some devices only");
        }
        // What the zigzag avoids: the contiguous split under a causal mask (device d's queries i see i + 1 keys).
        var plain = RingLayout.Create(1024, devices, causal: false);
        long[] contiguous = [.. Enumerable.Range(0, devices).Select(d => plain.ChunksOf(d).Sum(c => Enumerable.Range(c.Start, c.Length).Sum(i => (long)i + 1)))];
        ((double)contiguous.Max() / contiguous.Min()).Should().BeGreaterThan(2 * devices - 2);
    }

    [Fact]
    public void Non_causal_blocks_take_the_whole_shard()
    {
        var layout = RingLayout.Create(113, 3, causal: false);
        for (int d = 0; d < 3; d++)
        for (int s = 0; s < 3; s++)
            layout.Blocks(d, s).Should().ContainSingle().Which.Should().Match<RingBlock>(b =>
                !b.Causal && b.KeyLength == layout.ShardLength(layout.ShardSource(d, s)));
    }

    [Fact]
    public void Invalid_sizes_are_refused()
    {
        FluentActions.Invoking(() => RingLayout.Create(0, 2, true)).Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("seqLen");
        FluentActions.Invoking(() => RingLayout.Create(8, 0, true)).Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("devices");
    }
}
