using FlashAttention.Kernels.Portable;

namespace FlashAttention.Kernels.TensorCore;

/// <summary>
/// The query rows, head and batch item one group of the tensor-core forward owns, and the key tiles
/// it visits; shared by the mma.sync and wgmma kernels.
/// </summary>
internal struct QueryBlock
{
    /// <summary>The block's first query row, its query head, batch item and key/value head.</summary>
    public int FirstRow, Head, Batch, KvHead;

    /// <summary>Valid rows of the block (fewer than Br at the end of the sequence).</summary>
    public int Rows;

    /// <summary>The first key tile to visit and one past the last (tiles of <c>bc</c> keys).</summary>
    public int FirstTile, EndTile;

    /// <summary>
    /// The block of this group, or Rows = 0 when it has nothing to do (a varlen sequence shorter than
    /// the grid). For varlen calls <paramref name="p"/> is rebased onto the group's sequence.
    /// </summary>
    public static QueryBlock Locate<TScores>(ref ForwardParams<ushort> p, int br, int bc) where TScores : struct, IScoreMode
    {
        // Heaviest query blocks first: under a causal mask the last rows see the most keys, and
        // starting them early keeps SMs from idling on them at the end of the grid.
        var b = new QueryBlock { FirstRow = (Grid.DimX - 1 - Grid.IdxX) * br, Head = Grid.IdxY, Batch = Grid.IdxZ };
        if (p.Sequences.Enabled != 0)
        {
            // Varlen: this group's sequence, as batch item 0; nothing to do past its end.
            var sequence = p.Sequences.Of(b.Batch);
            if (b.FirstRow >= sequence.LengthQ)
                return default;
            p = PackedSequences.ForSequence(p, sequence);
            b.Batch = 0;
        }
        else if ((default(TScores).Tensors || default(TScores).BiasOnly) && Grid.DimX * br >= p.SeqLenQ + br)
        {
            // The launcher folded the batch into grid x (batch fastest; never with varlen, whose rebased seqlen_q would
            // look folded here; see TensorCoreForwardLauncher):
            // the batch items of one query block start side by side and share a broadcast bias or mask through L2.
            int blocks = (p.SeqLenQ + br - 1) / br;
            int batches = Grid.DimX / blocks;
            b.Batch = Grid.IdxX % batches;
            b.FirstRow = (blocks - 1 - Grid.IdxX / batches) * br;
        }
        else if (p.Mask.Causal != 0)
        {
            HeaviestFirst(ref b, br);
        }
        b.KvHead = b.Head / p.QueryHeadsPerKvHead;
        b.Rows = Math.Min(br, p.SeqLenQ - b.FirstRow);

        // Key tiles outside the causal diagonal or the window of every row here are skipped, not computed.
        // So are the tiles of blocks the block mask hides.
        int keyEnd = p.Mask.KeyEnd(b.FirstRow + b.Rows);
        b.EndTile = keyEnd > 0 ? (keyEnd + bc - 1) / bc : 0;
        b.FirstTile = p.Blocks.NextVisibleTile(b.Batch, b.Head, b.FirstRow, p.Mask.KeyTileStart(b.FirstRow, bc) / bc, b.EndTile, bc);
        return b;
    }

    /// <summary>Query blocks that start together under a causal mask (see <see cref="HeaviestFirst"/>): about two waves of the H100's groups.</summary>
    internal const int HeaviestFirstSpan = 512;

    /// <summary>
    /// Reorders a causal grid so the heaviest blocks of many heads start together. The grid starts its
    /// groups x fastest, so by x alone each head's heaviest block starts first, but at short sequences
    /// (16 blocks per head at N 2K) the heavy blocks of the last heads still start near the grid's end
    /// and run alone there. Here the (head, batch) pairs are taken in sets spanning about
    /// <see cref="HeaviestFirstSpan"/> blocks, and inside a set every pair's heaviest block comes first,
    /// then every pair's next one; a set's keys and values (a few of its heads') stay in L2.
    /// </summary>
    private static void HeaviestFirst(ref QueryBlock b, int br)
    {
        int heads = Grid.DimY;
        var (rank, pair) = HeaviestFirstOrder(Grid.IdxX + Grid.DimX * (Grid.IdxY + heads * Grid.IdxZ), Grid.DimX, heads * Grid.DimZ);
        b.FirstRow = (Grid.DimX - 1 - rank) * br;
        b.Head = pair % heads;
        b.Batch = pair / heads;
    }

    /// <summary>
    /// The group that starts <paramref name="launched"/>-th (x fastest) in a grid of <paramref name="blocks"/>
    /// query blocks by <paramref name="pairs"/> (head, batch) pairs: its block's rank (0 the heaviest) and its pair.
    /// </summary>
    internal static (int Rank, int Pair) HeaviestFirstOrder(int launched, int blocks, int pairs)
    {
        int setPairs = Math.Max(1, HeaviestFirstSpan / blocks);
        int set = launched / (setPairs * blocks);
        int inSet = launched - set * setPairs * blocks;
        int pairsHere = Math.Min(setPairs, pairs - set * setPairs); // the last set may be smaller
        int rank = inSet / pairsHere;
        return (rank, set * setPairs + inSet - rank * pairsHere);
    }
}
