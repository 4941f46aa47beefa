using FlashAttention.Kernels.Numerics;

namespace FlashAttention.Kernels.Portable;

/// <summary>
/// One tile of keys or values from the cache into shared memory, widened to float32, rows [key][d].
/// Consecutive threads take consecutive 16-byte vectors of a key row, so each warp reads whole
/// 128-byte lines; each thread issues eight loads before it stores any, so a group keeps 16 KB
/// (fp16, d 128) in flight: decoding's speed is the bytes in flight, and ILGPU does not unroll loops.
/// Paged caches look the page up per vector (the block table is small and stays in cache).
/// </summary>
internal static class DecodeTileLoader
{
    public static void Load<T, TOps, TVec>(StridedTensor<T> src, in KvCacheView<T> cache, int vectorAligned, int batch, int head,
        int firstKey, int cols, int headDim, ArrayView<float> dst, int stride)
        where T : unmanaged
        where TOps : struct, IElementOps<T>
        where TVec : struct, IVectorElements<T>
    {
        if (vectorAligned != 0)
            LoadVectors<T, TVec>(src, cache, batch, head, firstKey, cols, headDim, dst, stride);
        else
            LoadElements<T, TOps>(src, cache, batch, head, firstKey, cols, headDim, dst, stride);
    }

    private static void LoadVectors<T, TVec>(StridedTensor<T> src, in KvCacheView<T> cache, int batch, int head,
        int firstKey, int cols, int headDim, ArrayView<float> dst, int stride)
        where T : unmanaged
        where TVec : struct, IVectorElements<T>
    {
        int per = default(TVec).PerVector;
        int perRow = headDim / per;
        int count = cols * perRow;
        int step = Group.DimX;
        var vectors = src.Data.Cast<Raw16>();
        for (int i0 = Group.IdxX; i0 < count; i0 += 8 * step)
        {
            var v0 = Read(src, vectors, cache, batch, head, firstKey, perRow, per, i0, count);
            var v1 = Read(src, vectors, cache, batch, head, firstKey, perRow, per, i0 + step, count);
            var v2 = Read(src, vectors, cache, batch, head, firstKey, perRow, per, i0 + 2 * step, count);
            var v3 = Read(src, vectors, cache, batch, head, firstKey, perRow, per, i0 + 3 * step, count);
            var v4 = Read(src, vectors, cache, batch, head, firstKey, perRow, per, i0 + 4 * step, count);
            var v5 = Read(src, vectors, cache, batch, head, firstKey, perRow, per, i0 + 5 * step, count);
            var v6 = Read(src, vectors, cache, batch, head, firstKey, perRow, per, i0 + 6 * step, count);
            var v7 = Read(src, vectors, cache, batch, head, firstKey, perRow, per, i0 + 7 * step, count);
            Write<T, TVec>(dst, stride, perRow, per, i0, count, v0);
            Write<T, TVec>(dst, stride, perRow, per, i0 + step, count, v1);
            Write<T, TVec>(dst, stride, perRow, per, i0 + 2 * step, count, v2);
            Write<T, TVec>(dst, stride, perRow, per, i0 + 3 * step, count, v3);
            Write<T, TVec>(dst, stride, perRow, per, i0 + 4 * step, count, v4);
            Write<T, TVec>(dst, stride, perRow, per, i0 + 5 * step, count, v5);
            Write<T, TVec>(dst, stride, perRow, per, i0 + 6 * step, count, v6);
            Write<T, TVec>(dst, stride, perRow, per, i0 + 7 * step, count, v7);
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
    private static void LoadElements<T, TOps>(StridedTensor<T> src, in KvCacheView<T> cache, int batch, int head,
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
