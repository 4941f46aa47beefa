namespace FlashAttention.Kernels.Portable;

/// <summary>
/// One head of a tensor (a decode cache's K or V, or the forward's K or V) addressed in 16-byte
/// vectors. The strides are divided into vector units and the head's offset is added once per
/// group, so a vector's address costs one 64-bit multiply-add per row instead of three multiplies,
/// a division and the rest per vector (the decode loader's integer work was most of its instructions).
/// </summary>
internal struct VectorRows
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
    public static VectorRows For<T>(in StridedTensor<T> src, int batch, int head, int per)
        where T : unmanaged
    {
        long headBase = head * src.HeadStride / per;
        long batchStride = src.BatchStride / per;
        return new VectorRows
        {
            Vectors = src.Data.Cast<Raw16>(),
            HeadBase = headBase,
            Base = batch * batchStride + headBase,
            BatchStride = batchStride,
            RowStride = src.RowStride / per,
        };
    }

    /// <summary>The index of the first vector of row <paramref name="row"/> of the group's (batch item, head), in an unpaged tensor.</summary>
    public readonly long Row(int row) => Base + row * RowStride;

    /// <summary>The index of the first vector of row <paramref name="row"/> of tensor item <paramref name="item"/> (a page, when paged), in the group's head.</summary>
    public readonly long At(int item, int row) => item * BatchStride + row * RowStride + HeadBase;

    /// <summary>The index of the first vector of key <paramref name="key"/> of batch item <paramref name="batch"/> (the group's own).</summary>
    public readonly long Row<T>(in KvCacheView<T> cache, int batch, int key)
        where T : unmanaged
    {
        if (cache.Paged == 0)
            return Base + key * RowStride;
        cache.Locate(batch, key, out int item, out int row);
        return At(item, row);
    }
}
