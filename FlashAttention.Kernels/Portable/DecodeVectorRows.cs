namespace FlashAttention.Kernels.Portable;

/// <summary>
/// One cache tensor (K or V) of one kv head addressed in 16-byte vectors. The strides are divided
/// into vector units and the head's offset is added once per group, so a vector's address costs one
/// 64-bit multiply-add per key row instead of three multiplies, a division and the rest per vector
/// (the loader's integer work was most of the kernel's instructions).
/// </summary>
internal struct DecodeVectorRows
{
    /// <summary>The tensor as 16-byte vectors.</summary>
    public ArrayView<Raw16> Vectors;

    /// <summary>Vectors from an item's start to the head's first vector.</summary>
    public long HeadBase;

    /// <summary>The first vector of the group's (batch item, head) in a contiguous cache: key j's row starts at Base + j * RowStride.</summary>
    public long Base;

    /// <summary>Vectors between batch items (pages, when paged).</summary>
    public long BatchStride;

    /// <summary>Vectors between sequence positions.</summary>
    public long RowStride;

    /// <summary>Rows of <paramref name="head"/> of <paramref name="src"/> for batch item <paramref name="batch"/>, <paramref name="per"/> elements per vector (every stride is a multiple of it: the launcher checks).</summary>
    public static DecodeVectorRows For<T>(in StridedTensor<T> src, int batch, int head, int per)
        where T : unmanaged
    {
        long headBase = head * src.HeadStride / per;
        long batchStride = src.BatchStride / per;
        return new DecodeVectorRows
        {
            Vectors = src.Data.Cast<Raw16>(),
            HeadBase = headBase,
            Base = batch * batchStride + headBase,
            BatchStride = batchStride,
            RowStride = src.RowStride / per,
        };
    }

    /// <summary>The index of the first vector of key <paramref name="key"/> of batch item <paramref name="batch"/> (the group's own).</summary>
    public readonly long Row<T>(in KvCacheView<T> cache, int batch, int key)
        where T : unmanaged
    {
        if (cache.Paged == 0)
            return Base + key * RowStride;
        cache.Locate(batch, key, out int item, out int row);
        return item * BatchStride + row * RowStride + HeadBase;
    }
}
