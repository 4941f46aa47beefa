namespace FlashAttention.Kernels.Portable;

/// <summary>
/// Shared memory of one decode group (floats): the group's query rows Q [Rows][d]; a key tile and a
/// value tile [Bc][d + 4] of their own, so the next tile's keys can be stored while this tile's values
/// are in use (three barriers per tile instead of five); the raw partial scores [part][Bc][Rows];
/// the scores/probabilities P [Bc][Rows]; m, l, alpha and the next m per row; one partial max and one
/// partial sum per thread ([lane][Rows]) for the softmax's row reductions.
/// P and the partial scores are key-major so that one 16-byte access carries a key's four rows of a
/// row block: the score step stores them with one instruction, the P V step loads them with one.
/// The K/V row stride d + 4 keeps each thread's 16-byte reads of its own key row free of bank
/// conflicts (consecutive rows start 4 banks apart). After the key loop the tile space holds the
/// per-slice partial outputs that the group sums.
/// </summary>
public readonly struct DecodeLayout
{
    /// <summary>The most query rows one group holds: (heads_q / heads_kv) * seqlen_q rows of one kv head, in chunks of this many.</summary>
    public const int MaxRows = 16;

    /// <summary>The row counts a kernel is compiled for (the launcher takes the smallest that holds a kv head's rows).</summary>
    public static readonly int[] SupportedRows = [4, 8, 16];

    /// <summary>The CUDA default limit of shared memory per group: tiles are chosen to stay under it.</summary>
    public const int SharedLimitBytes = 48 * 1024;

    /// <summary>The layout for compiled head dim <paramref name="dim"/>, key tile <paramref name="bc"/> and <paramref name="rows"/> query rows per group.</summary>
    public DecodeLayout(int dim, int bc, int rows)
    {
        Dim = dim;
        Bc = bc;
        Rows = rows;
        KvStride = dim + 4;
        KOffset = rows * dim;
        VOffset = KOffset + bc * KvStride;
        // After the loop the tile space holds [slice][rows][dim] partial outputs: at most 16 floats per thread.
        int tiles = Math.Max(2 * bc * KvStride, 16 * Threads(dim));
        PartOffset = KOffset + tiles;
        POffset = PartOffset + PartFloats(dim);
        MOffset = POffset + bc * rows;
        LOffset = MOffset + rows;
        AlphaOffset = LOffset + rows;
        MNextOffset = AlphaOffset + rows;
        RedMaxOffset = MNextOffset + rows;
        RedSumOffset = RedMaxOffset + Threads(dim);
        TotalFloats = RedSumOffset + Threads(dim);
    }

    /// <summary>Compiled head dim.</summary>
    public int Dim { get; }

    /// <summary>Keys per tile.</summary>
    public int Bc { get; }

    /// <summary>Query rows per group (a multiple of 4).</summary>
    public int Rows { get; }

    /// <summary>Floats between key rows of the K and V tiles.</summary>
    public int KvStride { get; }

    /// <summary>Where the K tile starts (Q starts at 0); the partial outputs start here after the key loop.</summary>
    public int KOffset { get; }

    /// <summary>Where the V tile starts.</summary>
    public int VOffset { get; }

    /// <summary>Where the raw partial scores start (<see cref="PartFloats"/>).</summary>
    public int PartOffset { get; }

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

    /// <summary>
    /// Floats for raw scores: when a tile has fewer (4-row block, key) pairs than the group has
    /// threads, each pair's dot product is split over the head dim between several threads, at most
    /// threads / pairs, each writing one partial score per row of the block: at most 4 x threads floats.
    /// </summary>
    public static int PartFloats(int dim) => 4 * Threads(dim);

    /// <summary>Floats in all.</summary>
    public int TotalFloats { get; }

    /// <summary>Bytes in all.</summary>
    public int TotalBytes => TotalFloats * sizeof(float);

    /// <summary>
    /// Keys per tile for compiled head dim <paramref name="dim"/> and <paramref name="rows"/> rows: 32 up to d 128, 16 above,
    /// halved while the group would pass <see cref="SharedLimitBytes"/>. Small tiles keep a group's shared
    /// memory small, so more groups (and their loads) are resident per multiprocessor.
    /// </summary>
    public static int TileKeys(int dim, int rows)
    {
        int bc = dim > 128 ? 16 : 32;
        while (bc > 8 && new DecodeLayout(dim, bc, rows).TotalBytes > SharedLimitBytes)
            bc /= 2;
        return bc;
    }

    /// <summary>The compiled row count for <paramref name="rowsPerKvHead"/> query rows per kv head: the smallest of 4, 8, 16 that holds them (16 for more: they take several chunks).</summary>
    public static int RowsFor(long rowsPerKvHead) => rowsPerKvHead <= 4 ? 4 : rowsPerKvHead <= 8 ? 8 : MaxRows;

    /// <summary>
    /// Threads per group: enough that every (4-row block, 4-wide column) pair of the output has one
    /// (d for the largest row count), and at least 128 so short head dims still split the key loop.
    /// </summary>
    public static int Threads(int dim) => Math.Max(128, dim);
}
