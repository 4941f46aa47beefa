namespace FlashAttention.Kernels.Portable;

/// <summary>
/// A key/value cache as the decode kernels see it: where key j of batch item b lives. A contiguous
/// cache is [batch, capacity, heads_kv, headdim]; a paged one is [num_pages, page_size, heads_kv,
/// headdim] plus a block table [batch, pages_per_sequence] of page numbers (FlashAttention-2's
/// block_table), so key j of item b sits in page BlockTable[b, j / page_size] at row j % page_size.
/// </summary>
public struct KvCacheView<T> where T : unmanaged
{
    /// <summary>Keys: [batch, capacity, heads_kv, headdim], or [num_pages, page_size, heads_kv, headdim] when paged.</summary>
    public StridedTensor<T> K;

    /// <summary>Values, the same shape as <see cref="K"/> (their strides may differ).</summary>
    public StridedTensor<T> V;

    /// <summary>int32 [batch]: keys already in the cache per batch item (before any append).</summary>
    public ArrayView<int> SeqLens;

    /// <summary>int32 [batch, <see cref="PagesPerSequence"/>] page numbers when <see cref="Paged"/> is 1.</summary>
    public ArrayView<int> BlockTable;

    /// <summary>1 for a paged cache.</summary>
    public int Paged;

    /// <summary>Rows per page (paged); unused otherwise.</summary>
    public int PageSize;

    /// <summary><see cref="PageDivision"/>'s multiplier and shift for <see cref="PageSize"/> (paged): the page of a key without a division.</summary>
    public ulong PageMagic;

    /// <inheritdoc cref="PageMagic"/>
    public int PageMagicShift;

    /// <summary>Block-table columns (paged).</summary>
    public int PagesPerSequence;

    /// <summary>Pages in <see cref="K"/> (paged): a page number outside [0, NumPages) is clamped, so a bad device table cannot read outside the buffer.</summary>
    public int NumPages;

    /// <summary>Keys one batch item can hold: the capacity, or pages_per_sequence * page_size.</summary>
    public int Capacity;

    /// <summary>
    /// Keys item <paramref name="batch"/> attends to: its cache length plus the <paramref name="appended"/> new keys,
    /// clamped to [0, capacity] (the engine checks host lengths; device lengths are trusted but never read past the buffer).
    /// </summary>
    public readonly int Length(int batch, int appended) =>
        Math.Max(0, Math.Min(Capacity, SeqLens[batch] + appended));

    /// <summary>The tensor coordinates (item, row) of key <paramref name="key"/> of batch item <paramref name="batch"/>.</summary>
    public readonly void Locate(int batch, int key, out int item, out int row)
    {
        if (Paged == 0)
        {
            item = batch;
            row = key;
            return;
        }
        int column = PageDivision.Column(key, PageMagic, PageMagicShift);
        int page = BlockTable[(long)batch * PagesPerSequence + column];
        item = Math.Max(0, Math.Min(NumPages - 1, page));
        row = key - column * PageSize;
    }
}
