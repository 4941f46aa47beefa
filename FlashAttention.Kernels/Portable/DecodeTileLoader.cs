using FlashAttention.Kernels.Numerics;

namespace FlashAttention.Kernels.Portable;

/// <summary>
/// One tile of keys or values from the cache into shared memory, widened to float32, rows [key][d].
/// Consecutive threads take consecutive 16-byte vectors of a key row, so each warp reads whole
/// 128-byte lines. Decoding's speed is the bytes in flight, and ILGPU does not unroll loops, so
/// the vector path is split in two: <see cref="Fetch{T, TVec}"/> issues a thread's first eight loads
/// into registers (a whole fp16 tile of d 128 over 128 threads: 16 KB per group), and
/// <see cref="Store{T, TVec}"/> writes them to shared memory later; the kernel fetches K and V
/// together, so V's latency hides behind K's and behind the score computation.
/// Paged caches look the page up per vector (the block table is small and stays in cache).
/// </summary>
internal static class DecodeTileLoader
{
    /// <summary>A thread's first eight 16-byte vectors of a tile, in registers.</summary>
    public struct VectorBatch
    {
        public Raw16 V0, V1, V2, V3, V4, V5, V6, V7;
    }

    /// <summary>Issues the loads of vectors tid + k * threads (k &lt; 8) of the tile: keys firstKey .. + cols, whole rows of <paramref name="dim"/> (the real head dim).</summary>
    public static VectorBatch Fetch<T, TVec>(StridedTensor<T> src, in KvCacheView<T> cache, int batch, int head, int firstKey, int cols, int dim)
        where T : unmanaged
        where TVec : struct, IVectorElements<T>
    {
        int per = default(TVec).PerVector;
        int perRow = dim / per;
        int count = cols * perRow;
        int step = Group.DimX;
        int i0 = Group.IdxX;
        var vectors = src.Data.Cast<Raw16>();
        return new VectorBatch
        {
            V0 = Read(src, vectors, cache, batch, head, firstKey, perRow, per, i0, count),
            V1 = Read(src, vectors, cache, batch, head, firstKey, perRow, per, i0 + step, count),
            V2 = Read(src, vectors, cache, batch, head, firstKey, perRow, per, i0 + 2 * step, count),
            V3 = Read(src, vectors, cache, batch, head, firstKey, perRow, per, i0 + 3 * step, count),
            V4 = Read(src, vectors, cache, batch, head, firstKey, perRow, per, i0 + 4 * step, count),
            V5 = Read(src, vectors, cache, batch, head, firstKey, perRow, per, i0 + 5 * step, count),
            V6 = Read(src, vectors, cache, batch, head, firstKey, perRow, per, i0 + 6 * step, count),
            V7 = Read(src, vectors, cache, batch, head, firstKey, perRow, per, i0 + 7 * step, count),
        };
    }

    /// <summary>Writes a fetched batch to dst [key][stride], then loads the tile's remaining vectors (more than eight per thread: float32) directly.</summary>
    public static void Store<T, TVec>(in VectorBatch b, StridedTensor<T> src, in KvCacheView<T> cache, int batch, int head, int firstKey,
        int cols, int dim, ArrayView<float> dst, int stride)
        where T : unmanaged
        where TVec : struct, IVectorElements<T>
    {
        int per = default(TVec).PerVector;
        int perRow = dim / per;
        int count = cols * perRow;
        int step = Group.DimX;
        int i0 = Group.IdxX;
        Write<T, TVec>(dst, stride, perRow, per, i0, count, b.V0);
        Write<T, TVec>(dst, stride, perRow, per, i0 + step, count, b.V1);
        Write<T, TVec>(dst, stride, perRow, per, i0 + 2 * step, count, b.V2);
        Write<T, TVec>(dst, stride, perRow, per, i0 + 3 * step, count, b.V3);
        Write<T, TVec>(dst, stride, perRow, per, i0 + 4 * step, count, b.V4);
        Write<T, TVec>(dst, stride, perRow, per, i0 + 5 * step, count, b.V5);
        Write<T, TVec>(dst, stride, perRow, per, i0 + 6 * step, count, b.V6);
        Write<T, TVec>(dst, stride, perRow, per, i0 + 7 * step, count, b.V7);
        if (count <= 8 * step)
            return;
        var vectors = src.Data.Cast<Raw16>();
        for (int i = i0 + 8 * step; i < count; i += 4 * step)
        {
            var v0 = Read(src, vectors, cache, batch, head, firstKey, perRow, per, i, count);
            var v1 = Read(src, vectors, cache, batch, head, firstKey, perRow, per, i + step, count);
            var v2 = Read(src, vectors, cache, batch, head, firstKey, perRow, per, i + 2 * step, count);
            var v3 = Read(src, vectors, cache, batch, head, firstKey, perRow, per, i + 3 * step, count);
            Write<T, TVec>(dst, stride, perRow, per, i, count, v0);
            Write<T, TVec>(dst, stride, perRow, per, i + step, count, v1);
            Write<T, TVec>(dst, stride, perRow, per, i + 2 * step, count, v2);
            Write<T, TVec>(dst, stride, perRow, per, i + 3 * step, count, v3);
        }
    }

    private static Raw16 Read<T>(StridedTensor<T> src, ArrayView<Raw16> vectors, in KvCacheView<T> cache, int batch, int head,
        int firstKey, int perRow, int per, int idx, int count)
        where T : unmanaged
    {
        if (idx >= count)
            return default;
        int c = idx / perRow;
        int v = idx - c * perRow;
        cache.Locate(batch, firstKey + c, out int item, out int row);
        return vectors[src.RowOffset(item, row, head) / per + v];
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
