namespace FlashAttention.Kernels.Portable;

/// <summary>
/// Writes the new keys and values of a decoding step into the cache in place, at positions
/// cache_seqlens[b] .. cache_seqlens[b] + seqlen_new - 1 of each batch item (through the block
/// table when paged), as flash_attn_with_kvcache does with k and v. It runs on the same stream
/// before <see cref="DecodeKernel"/>, which then sees them as ordinary cache rows. One thread per element.
/// </summary>
public static class KvAppendKernel
{
    /// <summary>grid x covers batch * seqlen_new * heads_kv * headdim elements.</summary>
    public static void Run<T>(KvAppendParams<T> p) where T : unmanaged
    {
        long idx = Grid.GlobalIndex.X;
        long perItem = (long)p.SeqLenNew * p.HeadsKv * p.HeadDim;
        if (idx >= p.Batch * perItem)
            return;
        int batch = (int)(idx / perItem);
        long rest = idx - batch * perItem;
        int t = (int)(rest / ((long)p.HeadsKv * p.HeadDim));
        rest -= (long)t * p.HeadsKv * p.HeadDim;
        int head = (int)(rest / p.HeadDim);
        int d = (int)(rest - (long)head * p.HeadDim);
        int key = p.Cache.SeqLens[batch] + t;
        // Device lengths are trusted (host ones are checked): a key past the capacity is dropped, not written out of bounds.
        if (key < 0 || key >= p.Cache.Capacity)
            return;
        p.Cache.Locate(batch, key, out int item, out int row);
        p.Cache.K.Data[p.Cache.K.RowOffset(item, row, head) + d] = p.KNew.Data[p.KNew.RowOffset(batch, t, head) + d];
        p.Cache.V.Data[p.Cache.V.RowOffset(item, row, head) + d] = p.VNew.Data[p.VNew.RowOffset(batch, t, head) + d];
    }
}

/// <summary>The inputs of <see cref="KvAppendKernel.Run{T}"/>.</summary>
public struct KvAppendParams<T> where T : unmanaged
{
    /// <summary>The cache written into.</summary>
    public KvCacheView<T> Cache;

    /// <summary>New keys [batch, seqlen_new, heads_kv, headdim].</summary>
    public StridedTensor<T> KNew;

    /// <summary>New values, the same shape.</summary>
    public StridedTensor<T> VNew;

    /// <summary>Batch items.</summary>
    public int Batch;

    /// <summary>New keys per item.</summary>
    public int SeqLenNew;

    /// <summary>Key/value heads.</summary>
    public int HeadsKv;

    /// <summary>Head dim.</summary>
    public int HeadDim;
}
