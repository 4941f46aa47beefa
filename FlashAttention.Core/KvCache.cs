namespace FlashAttention;

/// <summary>
/// A key/value cache in host arrays for <see cref="AttentionEngine.Decode{T}(HostTensor{T}, KvCache{T}, DecodeOptions?, HostTensor{T}?, HostTensor{T}?)"/>.
/// Contiguous: <see cref="K"/> and <see cref="V"/> are [batch, capacity, heads_kv, headdim] (the tensor's
/// seqlen is the capacity). Paged (<see cref="BlockTable"/> set): they are [num_pages, page_size,
/// heads_kv, headdim] (the tensor's batch is the page count, its seqlen the page size), and key j of
/// item b lives in page BlockTable[b * pages_per_sequence + j / page_size].
/// </summary>
/// <typeparam name="T">float, <see cref="Half"/> or <see cref="BFloat16"/>.</typeparam>
/// <param name="K">Keys (any strides with a contiguous head dim).</param>
/// <param name="V">Values, the same shape as <paramref name="K"/>.</param>
/// <param name="SeqLens">int32 [batch]: valid keys per item before this call's append (FlashAttention-2's cache_seqlens; not updated by the call).</param>
public sealed record KvCache<T>(HostTensor<T> K, HostTensor<T> V, int[] SeqLens) where T : unmanaged
{
    /// <summary>
    /// int32 [batch, pages_per_sequence] page numbers for a paged cache (pages_per_sequence = length / batch);
    /// null for a contiguous one. Entries past an item's last used page are not read (e.g. -1 padding).
    /// </summary>
    public int[]? BlockTable { get; init; }
}

/// <summary>
/// A key/value cache in accelerator memory, read and appended to in place (see <see cref="KvCache{T}"/> for the layouts).
/// The lengths and the block table are not read back to the host for checking (that would stall the
/// stream): the kernels clamp lengths to the capacity and page numbers to the pool, so bad values
/// give wrong results but never touch memory outside the buffers.
/// </summary>
/// <typeparam name="T">float, <see cref="Half"/> or <see cref="BFloat16"/>.</typeparam>
/// <param name="K">Keys: [batch, capacity, heads_kv, headdim], or [num_pages, page_size, heads_kv, headdim] when paged.</param>
/// <param name="V">Values, the same shape.</param>
/// <param name="SeqLens">int32 [batch] valid keys per item before this call's append.</param>
public readonly record struct DeviceKvCache<T>(DeviceTensor<T> K, DeviceTensor<T> V, ArrayView<int> SeqLens) where T : unmanaged
{
    /// <summary>int32 [batch, <see cref="PagesPerSequence"/>] page numbers for a paged cache; empty for a contiguous one.</summary>
    public ArrayView<int> BlockTable { get; init; }

    /// <summary>Block-table columns (paged).</summary>
    public int PagesPerSequence { get; init; }
}
