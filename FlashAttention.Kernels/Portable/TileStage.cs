using FlashAttention.Kernels.Numerics;
namespace FlashAttention.Kernels.Portable;

/// <summary>
/// A thread's share of one K or V tile of the v4 forward (<see cref="ParallelForwardKernel"/>),
/// fetched from memory as 16-byte vectors into registers one phase before it is widened to float32
/// in shared memory. The element loader (<see cref="TileLoader"/>) issues two-byte loads in rounds
/// of four and waits for each round where it stands, so every tile paid the memory latency several
/// times with the group idle; staged, the next tile's loads are in flight while the group computes
/// (V's during S = QKᵀ, the next K's during the softmax and P V), and one load moves a whole vector.
/// A thread holds at most four vectors (<see cref="Fits"/>): every shipped fp16/bf16 tile, and
/// float32 up to head dim 128. The backward kernels copy their K/V and Q/dO tiles in pairs
/// (<see cref="CopyRowMajorPair{T, TVec}"/>).
/// </summary>
/// <remarks>
/// K goes to shared memory transposed, Kt[d][key], so consecutive threads take consecutive keys
/// at the same place in their rows: a warp's 32 scalar stores then fall in 32 different banks
/// (row length Bc + 4). Taken row by row instead, the 16 vectors of a d 128 row would all start in
/// the same bank. V stays row-major and is taken row by row: 16-byte stores, coalesced reads.
/// </remarks>
internal struct TileStage
{
    /// <summary>The thread's vectors k = 0..3 (tile vector thread + k * threads); zeros past the tile's valid rows.</summary>
    public Raw16 R0, R1, R2, R3;

    /// <summary>
    /// Whether a tile of <paramref name="tileRows"/> rows of <paramref name="dim"/> elements,
    /// <paramref name="per"/> to a vector, can be staged by <paramref name="threads"/> threads: whole
    /// vectors per row, at most four per thread, and a thread's vectors a whole number of rows apart
    /// (row-major) or at the same key (transposed). All compile-time constants in the kernel.
    /// </summary>
    public static bool Fits(int dim, int tileRows, int threads, int per) =>
        dim % per == 0 && tileRows * (dim / per) <= 4 * threads && threads % tileRows == 0 && threads % (dim / per) == 0;

    /// <summary>Issues the loads of rows row0 .. row0 + tileRows of <paramref name="rows"/> for a transposed store (vector i is key i % tileRows, vector i / tileRows of its row).</summary>
    public static TileStage FetchForTranspose(in VectorRows rows, int row0, int validRows, int tileRows, int perRow, int threads)
    {
        int i = Group.IdxX;
        int count = tileRows * perRow;
        int c = i % tileRows;
        long at = rows.Row(row0 + c) + i / tileRows;
        long step = threads / tileRows;
        bool rowValid = c < validRows;
        var stage = new TileStage { R0 = Load(rows, at, rowValid && i < count) };
        int perThread = PerThread(count, threads);
        if (perThread > 1)
            stage.R1 = Load(rows, at + step, rowValid && i + threads < count);
        if (perThread > 2)
        {
            stage.R2 = Load(rows, at + 2 * step, rowValid && i + 2 * threads < count);
            stage.R3 = Load(rows, at + 3 * step, rowValid && i + 3 * threads < count);
        }
        return stage;
    }

    /// <summary>Writes a <see cref="FetchForTranspose"/> batch to dst[d * ld + key].</summary>
    public readonly void StoreTransposed<T, TVec>(ArrayView<float> dst, int ld, int tileRows, int perRow, int threads)
        where T : unmanaged
        where TVec : struct, IVectorElements<T>
    {
        int per = default(TVec).PerVector;
        int i = Group.IdxX;
        int count = tileRows * perRow;
        int at = i / tileRows * per * ld + i % tileRows;
        int step = threads / tileRows * per * ld;
        int perThread = PerThread(count, threads);
        if (i < count) Scatter<T, TVec>(R0, dst, at, ld);
        if (perThread > 1 && i + threads < count) Scatter<T, TVec>(R1, dst, at + step, ld);
        if (perThread > 2 && i + 2 * threads < count) Scatter<T, TVec>(R2, dst, at + 2 * step, ld);
        if (perThread > 2 && i + 3 * threads < count) Scatter<T, TVec>(R3, dst, at + 3 * step, ld);
    }

    /// <summary>Issues the loads of rows row0 .. row0 + tileRows of <paramref name="rows"/> for a row-major store (vector i is vector i % perRow of row i / perRow).</summary>
    public static TileStage FetchRowMajor(in VectorRows rows, int row0, int validRows, int tileRows, int perRow, int threads)
    {
        int i = Group.IdxX;
        int count = tileRows * perRow;
        int c = i / perRow;
        int rowStep = threads / perRow;
        long at = rows.Row(row0 + c) + (i - c * perRow);
        long step = rowStep * rows.RowStride;
        var stage = new TileStage { R0 = Load(rows, at, c < validRows && i < count) };
        int perThread = PerThread(count, threads);
        if (perThread > 1)
            stage.R1 = Load(rows, at + step, c + rowStep < validRows && i + threads < count);
        if (perThread > 2)
        {
            stage.R2 = Load(rows, at + 2 * step, c + 2 * rowStep < validRows && i + 2 * threads < count);
            stage.R3 = Load(rows, at + 3 * step, c + 3 * rowStep < validRows && i + 3 * threads < count);
        }
        return stage;
    }

    /// <summary>Writes a <see cref="FetchRowMajor"/> batch to dst[row * ld + d]; ld is a multiple of 4.</summary>
    public readonly void StoreRowMajor<T, TVec>(ArrayView<float> dst, int ld, int tileRows, int perRow, int threads)
        where T : unmanaged
        where TVec : struct, IVectorElements<T>
    {
        int per = default(TVec).PerVector;
        int i = Group.IdxX;
        int count = tileRows * perRow;
        int c = i / perRow;
        int at = c * ld + (i - c * perRow) * per;
        int step = threads / perRow * ld;
        int perThread = PerThread(count, threads);
        if (i < count) default(TVec).Unpack(R0, dst, at);
        if (perThread > 1 && i + threads < count) default(TVec).Unpack(R1, dst, at + step);
        if (perThread > 2 && i + 2 * threads < count) default(TVec).Unpack(R2, dst, at + 2 * step);
        if (perThread > 2 && i + 3 * threads < count) default(TVec).Unpack(R3, dst, at + 3 * step);
    }

    /// <summary>
    /// Copies two tiles of the same rows (K and V, or Q and dO) row-major into shared memory with
    /// every load issued before any store: the backward's copies then wait out the memory latency
    /// once per step, where the element loader waited once per four elements per thread.
    /// </summary>
    public static void CopyRowMajorPair<T, TVec>(in VectorRows a, in VectorRows b, int row0, int validRows, int tileRows,
        int perRow, int threads, ArrayView<float> dstA, ArrayView<float> dstB, int ld)
        where T : unmanaged
        where TVec : struct, IVectorElements<T>
    {
        var first = FetchRowMajor(a, row0, validRows, tileRows, perRow, threads);
        var second = FetchRowMajor(b, row0, validRows, tileRows, perRow, threads);
        first.StoreRowMajor<T, TVec>(dstA, ld, tileRows, perRow, threads);
        second.StoreRowMajor<T, TVec>(dstB, ld, tileRows, perRow, threads);
    }

    /// <summary>
    /// The backward's copy of two tiles of the same rows of (batch, head) into shared memory: with
    /// <see cref="CopyRowMajorPair{T, TVec}"/> when <paramref name="vectorAligned"/> holds (every row on a
    /// 16-byte boundary, checked by the launcher), the head dim is the compiled one and the tile fits
    /// the vector mapping; element by element (<see cref="TileLoader"/>) otherwise.
    /// </summary>
    public static void LoadPair<T, TOps, TVec>(in StridedTensor<T> a, in StridedTensor<T> b, int batch, int head, int row0, int validRows,
        int tileRows, int headDim, int dim, bool vectorAligned, ArrayView<float> dstA, ArrayView<float> dstB, int ld)
        where T : unmanaged
        where TOps : struct, IElementOps<T>
        where TVec : struct, IVectorElements<T>
    {
        int per = default(TVec).PerVector, threads = Group.DimX;
        if (vectorAligned && headDim == dim && Fits(dim, tileRows, threads, per))
        {
            CopyRowMajorPair<T, TVec>(VectorRows.For(a, batch, head, per), VectorRows.For(b, batch, head, per),
                row0, validRows, tileRows, dim / per, threads, dstA, dstB, ld);
            return;
        }
        TileLoader.LoadRowMajor<T, TOps>(a, batch, head, row0, validRows, headDim, tileRows, dim, dstA, ld);
        TileLoader.LoadRowMajor<T, TOps>(b, batch, head, row0, validRows, headDim, tileRows, dim, dstB, ld);
    }

    /// <summary>
    /// Vectors per thread, at most 4: a compile-time constant, so ILGPU drops the tests on it and a
    /// d 128 fp16 tile (two vectors per thread) holds 8 registers, not 16. Arithmetic, not a
    /// conditional expression: ILGPU folded the division but kept the branches of a ?: chain.
    /// </summary>
    private static int PerThread(int count, int threads) => (count + threads - 1) / threads;

    private static Raw16 Load(in VectorRows rows, long at, bool valid) => valid ? rows.Vectors.AsAligned(16)[at] : default;

    /// <summary>The vector's elements down one column of a transposed tile: dst[at + j * ld].</summary>
    private static void Scatter<T, TVec>(Raw16 raw, ArrayView<float> dst, int at, int ld)
        where T : unmanaged
        where TVec : struct, IVectorElements<T>
    {
        var e = default(TVec).Widen(raw);
        dst[at] = e.Lo.X;
        dst[at + ld] = e.Lo.Y;
        dst[at + 2 * ld] = e.Lo.Z;
        dst[at + 3 * ld] = e.Lo.W;
        if (default(TVec).PerVector == 8)
        {
            dst[at + 4 * ld] = e.Hi.X;
            dst[at + 5 * ld] = e.Hi.Y;
            dst[at + 6 * ld] = e.Hi.Z;
            dst[at + 7 * ld] = e.Hi.W;
        }
    }
}
