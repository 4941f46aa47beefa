namespace FlashAttention.Kernels.Portable;

/// <summary>
/// A streaming-decode lane's loads of one step from one cache tensor (K or V): its 16-byte slice of up
/// to four key rows, <c>keys</c> apart, as raw words still in flight. The kernel issues the next
/// step's keys as soon as this step's scores are done and the next step's values as soon as this
/// step's are accumulated, so a lane always has loads in flight while it holds only one step's worth.
/// </summary>
internal struct DecodeStreamStep
{
    /// <summary>Rows firstKey + u * keys, u = 0 .. 3.</summary>
    public Raw16 R0, R1, R2, R3;

    /// <summary>
    /// Issues the loads of rows firstKey + u * keys (u &lt; unroll) at vector <paramref name="slot"/>;
    /// keys at or past <paramref name="end"/> read nothing and give zeros.
    /// </summary>
    public static DecodeStreamStep Fetch<T>(in VectorRows rows, in KvCacheView<T> cache, int batch,
        int firstKey, int keys, int end, int slot, int unroll)
        where T : unmanaged
    {
        var step = default(DecodeStreamStep);
        if (cache.Paged == 0 && firstKey + (unroll - 1) * keys < end)
        {
            // The common case: evenly spaced rows and no key past the end, so one address per step and
            // compile-time multiples of one stride (per-key address arithmetic and bounds tests were
            // most of the loop's instructions).
            long at = rows.Base + (long)firstKey * rows.RowStride + slot;
            long stride = keys * rows.RowStride;
            step.R0 = rows.Vectors[at];
            step.R1 = rows.Vectors[at + stride];
            if (unroll > 2)
            {
                step.R2 = rows.Vectors[at + 2 * stride];
                step.R3 = rows.Vectors[at + 3 * stride];
            }
            return step;
        }
        step.R0 = Load(rows, cache, batch, firstKey, end, slot);
        step.R1 = Load(rows, cache, batch, firstKey + keys, end, slot);
        if (unroll > 2)
        {
            step.R2 = Load(rows, cache, batch, firstKey + 2 * keys, end, slot);
            step.R3 = Load(rows, cache, batch, firstKey + 3 * keys, end, slot);
        }
        return step;
    }

    /// <summary>One row, found through the page table where the cache is paged; nothing past the end.</summary>
    private static Raw16 Load<T>(in VectorRows rows, in KvCacheView<T> cache, int batch, int key, int end, int slot)
        where T : unmanaged =>
        key < end ? rows.Vectors[rows.Row(cache, batch, key) + slot] : default;
}
