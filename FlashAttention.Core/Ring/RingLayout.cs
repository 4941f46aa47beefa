namespace FlashAttention;

/// <summary>
/// How <see cref="RingAttention"/> splits one sequence over N devices, and which launches each device
/// runs at each of the N steps (at step s device i holds the key/value shard that started on device
/// (i - s) mod N).
/// <list type="bullet">
/// <item>Not causal: N contiguous chunks, chunk i on device i. Every pair is visible, so every device
/// has the same work whatever the split.</item>
/// <item>Causal: 2N chunks, device i holds chunks i and 2N - 1 - i (the "zigzag"). A query chunk a sees key
/// chunk b fully when b &lt; a, causally when b = a, not at all when b &gt; a (nothing is launched). Device i's
/// chunks see i + 1 and 2N - i key chunks: 2N + 1 chunk pairs on every device, where a contiguous split
/// would give device N - 1 about 2N - 1 times the work of device 0.</item>
/// </list>
/// Chunk lengths differ by at most 1 (the first seqlen mod count chunks are one longer); when the
/// sequence is shorter than the chunk count the last chunks are empty, and a device whose chunks are
/// all empty only forwards shards.
/// </summary>
public sealed class RingLayout
{
    private readonly RingChunk[][] byDevice;

    private RingLayout(int seqLen, int devices, bool causal)
    {
        SeqLen = seqLen;
        Devices = devices;
        Causal = causal;
        int count = causal ? 2 * devices : devices;
        var chunks = new RingChunk[count];
        int start = 0;
        for (int c = 0; c < count; c++)
        {
            int length = seqLen / count + (c < seqLen % count ? 1 : 0);
            chunks[c] = new RingChunk(c, start, length, causal ? Math.Min(c, count - 1 - c) : c);
            start += length;
        }
        Chunks = chunks;
        byDevice = Enumerable.Range(0, devices).Select(d => chunks.Where(c => c.Device == d).ToArray()).ToArray();
    }

    /// <summary>The layout of a sequence of <paramref name="seqLen"/> positions over <paramref name="devices"/> devices.</summary>
    /// <param name="seqLen">Sequence length (at least 1).</param>
    /// <param name="devices">Devices in the ring (at least 1).</param>
    /// <param name="causal">Causal attention: zigzag chunks; else contiguous ones.</param>
    public static RingLayout Create(int seqLen, int devices, bool causal)
    {
        if (seqLen < 1)
            throw new ArgumentOutOfRangeException(nameof(seqLen), seqLen, "seqLen: expected at least 1");
        if (devices < 1)
            throw new ArgumentOutOfRangeException(nameof(devices), devices, "devices: expected at least 1");
        return new RingLayout(seqLen, devices, causal);
    }

    /// <summary>Sequence length.</summary>
    public int SeqLen { get; }

    /// <summary>Devices in the ring.</summary>
    public int Devices { get; }

    /// <summary>Whether the layout is the causal (zigzag) one.</summary>
    public bool Causal { get; }

    /// <summary>Every chunk, in sequence order.</summary>
    public IReadOnlyList<RingChunk> Chunks { get; }

    /// <summary>The chunks device <paramref name="device"/> holds, in sequence order: its shard is their concatenation.</summary>
    public IReadOnlyList<RingChunk> ChunksOf(int device) => byDevice[device];

    /// <summary>Positions in device <paramref name="device"/>'s shard.</summary>
    public int ShardLength(int device) => byDevice[device].Sum(c => c.Length);

    /// <summary>The device whose shard device <paramref name="device"/> holds at step <paramref name="step"/>.</summary>
    public int ShardSource(int device, int step) => ((device - step) % Devices + Devices) % Devices;

    /// <summary>The launches of device <paramref name="device"/> at step <paramref name="step"/> (none for an empty or invisible pairing).</summary>
    public IReadOnlyList<RingBlock> Blocks(int device, int step)
    {
        var shard = byDevice[ShardSource(device, step)];
        var blocks = new List<RingBlock>(2);
        var own = byDevice[device];
        for (int qc = 0; qc < own.Length; qc++)
        {
            var query = own[qc];
            if (query.Length == 0)
                continue;
            int keys = 0;
            bool diagonal = false;
            foreach (var chunk in shard)
            {
                if (Causal && chunk.Index > query.Index)
                    break;
                keys += chunk.Length;
                diagonal |= Causal && chunk.Index == query.Index;
            }
            if (keys > 0)
                blocks.Add(new RingBlock(qc, query, keys, diagonal));
        }
        return blocks;
    }

    /// <summary>(query chunk, key chunk) index pairs device <paramref name="device"/> attends over all steps, empty chunks included: the load-balance measure that does not depend on the lengths.</summary>
    public int VisibleChunkPairs(int device)
    {
        int pairs = 0;
        foreach (var query in byDevice[device])
            pairs += Chunks.Count(k => !Causal || k.Index <= query.Index);
        return pairs;
    }

    /// <summary>(query, key) position pairs device <paramref name="device"/> computes over all steps.</summary>
    public long VisiblePairs(int device)
    {
        long pairs = 0;
        for (int s = 0; s < Devices; s++)
            pairs += Blocks(device, s).Sum(b => b.VisiblePairs);
        return pairs;
    }
}
