using FlashAttention.Kernels.TensorCore;

namespace FlashAttention.Tests;

/// <summary>
/// The causal grid's launch order (<see cref="QueryBlock.HeaviestFirstOrder"/>): every (block, head, batch)
/// exactly once, and inside each set of pairs every pair's heavier blocks start before any lighter one.
/// The kernels' causal tests run it on small grids (one set); these cover many sets and a short last one.
/// </summary>
public class QueryBlockOrderTests
{
    [Theory]
    [InlineData(1, 1)]
    [InlineData(1, 700)]     // one block per pair: sets of 512 pairs, the last one short
    [InlineData(16, 256)]    // N 2K at Br 128, batch 8 x 32 heads: sets of 32 pairs
    [InlineData(16, 70)]     // a last set of 6 pairs
    [InlineData(3, 200)]     // 170 pairs per set, the last of 30
    [InlineData(600, 5)]     // more blocks than the span: one pair per set (each head heaviest-first, as x alone)
    public void Visits_every_block_once_heaviest_first_within_each_set(int blocks, int pairs)
    {
        var seen = new bool[blocks * pairs];
        var lastRank = new Dictionary<int, int>(); // per set: the rank started last
        int setPairs = Math.Max(1, QueryBlock.HeaviestFirstSpan / blocks);
        for (int launched = 0; launched < blocks * pairs; launched++)
        {
            var (rank, pair) = QueryBlock.HeaviestFirstOrder(launched, blocks, pairs);
            rank.Should().BeInRange(0, blocks - 1);
            pair.Should().BeInRange(0, pairs - 1);
            seen[pair * blocks + rank].Should().BeFalse($"block {rank} of pair {pair} is started once (launch {launched})");
            seen[pair * blocks + rank] = true;
            int set = pair / setPairs;
            launched.Should().BeInRange(set * setPairs * blocks, Math.Min(pairs, (set + 1) * setPairs) * blocks - 1, "a set's groups start together");
            if (lastRank.TryGetValue(set, out int previous))
                rank.Should().BeGreaterThanOrEqualTo(previous, "inside a set no heavier block starts after a lighter one");
            lastRank[set] = rank;
        }
        seen.Should().AllBeEquivalentTo(true);
    }
}
