using FlashAttention.Kernels.Numerics;

namespace FlashAttention.Kernels.Portable;

/// <summary>
/// One tile of keys or values from the cache into shared memory, widened to float32, rows [key][d].
/// Consecutive threads take consecutive 16-byte vectors of a key row, so each warp reads whole
/// 128-byte lines. Decoding's speed is the bytes in flight, and ILGPU does not unroll loops, so
/// the vector path is split in two: <see cref="Fetch{T, TVec}"/> issues a thread's first four loads
/// into registers (a whole fp16 tile of 32 keys of d 128 over 128 threads: 8 KB per group), and
/// <see cref="Store{T, TVec}"/> writes them to shared memory a tile later; four, not eight, because
/// the kernel holds a K and a V batch at once and registers bound how many groups are resident.
/// Paged caches look the page up once per tile when the tile lies within one page, else per vector
/// (the block table is small and stays in cache).
/// </summary>
internal static class DecodeTileLoader
{
    /// <summary>A thread's first four 16-byte vectors of a tile, in registers.</summary>
    public struct VectorBatch
    {
        public Raw16 V0, V1, V2, V3;
    }

    /// <summary>Issues the loads of vectors tid + k * threads (k &lt; 4) of the tile: keys firstKey .. + cols, whole rows of <paramref name="dim"/> (the real head dim).</summary>
    public static VectorBatch Fetch<T, TVec>(in VectorRows src, in KvCacheView<T> cache, int batch, int firstKey, int cols, int dim, int threads)
        where T : unmanaged
        where TVec : struct, IVectorElements<T>
    {
        int perRow = dim / default(TVec).PerVector;
        int count = cols * perRow;
        int i0 = Group.IdxX;
        // A tile within one page (always, in a contiguous cache) has evenly spaced rows: one lookup for the tile.
        int pageSize = Math.Max(1, cache.PageSize); // unused (and maybe 0) when not paged: never divide by it
        bool evenRows = cache.Paged == 0 || firstKey % pageSize + cols <= pageSize;
        if (evenRows && threads % perRow == 0)
        {
            // A thread's four vectors sit threads / perRow keys apart at the same place in their rows
            // (perRow and threads are compile-time): one address, then 64-bit adds.
            int c = i0 / perRow;
            long at = src.Row(cache, batch, firstKey) + (long)c * src.RowStride + (i0 - c * perRow);
            long step = threads / perRow * src.RowStride;
            return new VectorBatch
            {
                V0 = Load(src, at, i0 < count),
                V1 = Load(src, at + step, i0 + threads < count),
                V2 = Load(src, at + 2 * step, i0 + 2 * threads < count),
                V3 = Load(src, at + 3 * step, i0 + 3 * threads < count),
            };
        }
        return new VectorBatch
        {
            V0 = Read(src, cache, batch, firstKey, perRow, i0, count),
            V1 = Read(src, cache, batch, firstKey, perRow, i0 + threads, count),
            V2 = Read(src, cache, batch, firstKey, perRow, i0 + 2 * threads, count),
            V3 = Read(src, cache, batch, firstKey, perRow, i0 + 3 * threads, count),
        };
    }

    private static Raw16 Load(in VectorRows src, long at, bool inTile) => inTile ? src.Vectors[at] : default;

    /// <summary>Writes a fetched batch to dst [key][stride], then loads the tile's remaining vectors (more than four per thread: float32, d &gt; 128) directly.</summary>
    public static void Store<T, TVec>(in VectorBatch b, in VectorRows src, in KvCacheView<T> cache, int batch, int firstKey,
        int cols, int dim, int threads, ArrayView<float> dst, int stride)
        where T : unmanaged
        where TVec : struct, IVectorElements<T>
    {
        int per = default(TVec).PerVector;
        int perRow = dim / per;
        int count = cols * perRow;
        int i0 = Group.IdxX;
        if (threads % perRow == 0)
        {
            // The four vectors sit threads / perRow rows apart at the same place in their rows: one offset plus compile-time steps.
            int c = i0 / perRow;
            int at = c * stride + (i0 - c * perRow) * per;
            int step = threads / perRow * stride;
            if (i0 < count) default(TVec).Unpack(b.V0, dst, at);
            if (i0 + threads < count) default(TVec).Unpack(b.V1, dst, at + step);
            if (i0 + 2 * threads < count) default(TVec).Unpack(b.V2, dst, at + 2 * step);
            if (i0 + 3 * threads < count) default(TVec).Unpack(b.V3, dst, at + 3 * step);
        }
        else
        {
            Write<T, TVec>(dst, stride, perRow, per, i0, count, b.V0);
            Write<T, TVec>(dst, stride, perRow, per, i0 + threads, count, b.V1);
            Write<T, TVec>(dst, stride, perRow, per, i0 + 2 * threads, count, b.V2);
            Write<T, TVec>(dst, stride, perRow, per, i0 + 3 * threads, count, b.V3);
        }
        for (int i = i0 + 4 * threads; i < count; i += 4 * threads)
        {
            var v0 = Read(src, cache, batch, firstKey, perRow, i, count);
            var v1 = Read(src, cache, batch, firstKey, perRow, i + threads, count);
            var v2 = Read(src, cache, batch, firstKey, perRow, i + 2 * threads, count);
            var v3 = Read(src, cache, batch, firstKey, perRow, i + 3 * threads, count);
            Write<T, TVec>(dst, stride, perRow, per, i, count, v0);
            Write<T, TVec>(dst, stride, perRow, per, i + threads, count, v1);
            Write<T, TVec>(dst, stride, perRow, per, i + 2 * threads, count, v2);
            Write<T, TVec>(dst, stride, perRow, per, i + 3 * threads, count, v3);
        }
    }

    /// <summary>Vector <paramref name="idx"/> of the tile (perRow is a compile-time constant: the division is a multiply and a shift).</summary>
    private static Raw16 Read<T>(in VectorRows src, in KvCacheView<T> cache, int batch, int firstKey, int perRow, int idx, int count)
        where T : unmanaged
    {
        if (idx >= count)
            return default;
        int c = idx / perRow;
        return src.Vectors[src.Row(cache, batch, firstKey + c) + (idx - c * perRow)];
    }

    private static void Write<T, TVec>(ArrayView<float> dst, int stride, int perRow, int per, int idx, int count, Raw16 value)
        where T : unmanaged
        where TVec : struct, IVectorElements<T>
    {
        if (idx >= count)
            return;
        int c = idx / perRow;
        int v = idx - c * perRow;
        default(TVec).Unpack(value, dst, c * stride + v * per);
    }

    /// <summary>Element by element, for rows that do not start on a 16-byte boundary or head dims that do not fill whole vectors.</summary>
    public static void LoadElements<T, TOps>(StridedTensor<T> src, in KvCacheView<T> cache, int batch, int head,
        int firstKey, int cols, int headDim, ArrayView<float> dst, int stride)
        where T : unmanaged
        where TOps : struct, IElementOps<T>
    {
        int count = cols * headDim;
        int step = Group.DimX;
        for (int i0 = Group.IdxX; i0 < count; i0 += 4 * step)
        {
            float e0 = ReadElement<T, TOps>(src, cache, batch, head, firstKey, headDim, i0, count);
            float e1 = ReadElement<T, TOps>(src, cache, batch, head, firstKey, headDim, i0 + step, count);
            float e2 = ReadElement<T, TOps>(src, cache, batch, head, firstKey, headDim, i0 + 2 * step, count);
            float e3 = ReadElement<T, TOps>(src, cache, batch, head, firstKey, headDim, i0 + 3 * step, count);
            WriteElement(dst, stride, headDim, i0, count, e0);
            WriteElement(dst, stride, headDim, i0 + step, count, e1);
            WriteElement(dst, stride, headDim, i0 + 2 * step, count, e2);
            WriteElement(dst, stride, headDim, i0 + 3 * step, count, e3);
        }
    }

    private static float ReadElement<T, TOps>(StridedTensor<T> src, in KvCacheView<T> cache, int batch, int head,
        int firstKey, int headDim, int idx, int count)
        where T : unmanaged
        where TOps : struct, IElementOps<T>
    {
        if (idx >= count)
            return 0f;
        int c = idx / headDim;
        int d = idx - c * headDim;
        cache.Locate(batch, firstKey + c, out int item, out int row);
        return default(TOps).ToFloat(src.Data[src.RowOffset(item, row, head) + d]);
    }

    private static void WriteElement(ArrayView<float> dst, int stride, int headDim, int idx, int count, float value)
    {
        if (idx >= count)
            return;
        int c = idx / headDim;
        dst[c * stride + idx - c * headDim] = value;
    }
}
