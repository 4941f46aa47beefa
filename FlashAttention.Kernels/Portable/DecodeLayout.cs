namespace FlashAttention.Kernels.Portable;

/// <summary>
/// Shared memory of one decode group (floats): the group's query rows Q [MaxRows][d], one key or
/// value tile [Bc][d + 4], the scores/probabilities P [MaxRows][Bc + 1], m, l, alpha and the next m
/// per row, one partial max and one partial sum per thread for the softmax's row reductions, and
/// the partial scores of pairs whose head dim several threads share.
/// The K/V row stride d + 4 keeps each thread's 16-byte reads of its own key row free of bank
/// conflicts (consecutive rows start 4 banks apart); P's odd stride does the same for the softmax,
/// where each thread walks its own row. After the key loop the tile space holds the per-slice
/// partial outputs that the group sums.
/// </summary>
public readonly struct DecodeLayout
{
    /// <summary>Query rows one group holds: (heads_q / heads_kv) * seqlen_q rows of one kv head, in chunks of this many.</summary>
    public const int MaxRows = 16;

    /// <summary>The layout for compiled head dim <paramref name="dim"/> and key tile <paramref name="bc"/>.</summary>
    public DecodeLayout(int dim, int bc)
    {
        Dim = dim;
        Bc = bc;
        KvStride = dim + 4;
        PStride = bc + 1;
        KvOffset = MaxRows * dim;
        POffset = KvOffset + bc * KvStride;
        MOffset = POffset + (MaxRows * PStride + 3) / 4 * 4;
        LOffset = MOffset + MaxRows;
        AlphaOffset = LOffset + MaxRows;
        MNextOffset = AlphaOffset + MaxRows;
        RedMaxOffset = MNextOffset + MaxRows;
        RedSumOffset = RedMaxOffset + Threads(dim);
        PartOffset = RedSumOffset + Threads(dim);
        TotalFloats = PartOffset + PartFloats(dim);
    }

    /// <summary>Compiled head dim.</summary>
    public int Dim { get; }

    /// <summary>Keys per tile.</summary>
    public int Bc { get; }

    /// <summary>Floats between key rows of the K/V tile.</summary>
    public int KvStride { get; }

    /// <summary>Floats between rows of P.</summary>
    public int PStride { get; }

    /// <summary>Where the K/V tile starts (Q starts at 0).</summary>
    public int KvOffset { get; }

    /// <summary>Where P starts.</summary>
    public int POffset { get; }

    /// <summary>Where m starts.</summary>
    public int MOffset { get; }

    /// <summary>Where l starts.</summary>
    public int LOffset { get; }

    /// <summary>Where alpha starts.</summary>
    public int AlphaOffset { get; }

    /// <summary>Where the next m starts (written by the softmax, taken over after the tile).</summary>
    public int MNextOffset { get; }

    /// <summary>Where the per-thread partial row maxima start.</summary>
    public int RedMaxOffset { get; }

    /// <summary>Where the per-thread partial row sums start.</summary>
    public int RedSumOffset { get; }

    /// <summary>Where the partial scores of a head dim split between threads start (<see cref="PartFloats"/>).</summary>
    public int PartOffset { get; }

    /// <summary>
    /// Floats for partial scores: when a tile has fewer (4-row block, key) pairs than the group has
    /// threads, each pair's dot product is split over the head dim between several threads, at most
    /// threads / (1 block x Bc), each writing one partial score per row of the block: 4 x threads floats.
    /// </summary>
    public static int PartFloats(int dim) => 4 * Threads(dim);

    /// <summary>Floats in all.</summary>
    public int TotalFloats { get; }

    /// <summary>Bytes in all.</summary>
    public int TotalBytes => TotalFloats * sizeof(float);

    /// <summary>Keys per tile for compiled head dim <paramref name="dim"/>: 64, or 32 above 128 so the tile stays near 32 KB.</summary>
    public static int TileKeys(int dim) => dim > 128 ? 32 : 64;

    /// <summary>
    /// Threads per group: enough that every (4-row block, 4-wide column) pair of the output has one
    /// (d for the largest row count), and at least 128 so short head dims still split the key loop.
    /// </summary>
    public static int Threads(int dim) => Math.Max(128, dim);
}
