namespace FlashAttention.Kernels.Launch;

/// <summary>
/// How many chunks the key axis of a decode call is split into (flash-decoding). A decode group
/// owns one (batch item, kv head): with few items and heads there are fewer groups than the device
/// has multiprocessors, most of the memory system idles, and splitting the keys is what fills it.
/// </summary>
public static class DecodeSplits
{
    /// <summary>The most splits automatic choice takes (each adds one partial output row per query row to merge).</summary>
    public const int MaxAuto = 64;

    /// <summary>The most splits a caller may ask for.</summary>
    public const int MaxRequested = 256;

    /// <summary>
    /// The number of splits. <paramref name="requested"/> &gt; 0 is taken as asked, but never more than the
    /// key tiles of the longest item (a split is at least one tile). 0 chooses: 1 when the groups already
    /// cover twice the multiprocessors (two resident groups each hide one another's memory latency),
    /// else enough splits to reach that, at most <see cref="MaxAuto"/> and at most one per key tile.
    /// </summary>
    /// <param name="requested">The caller's number; 0 for automatic.</param>
    /// <param name="groups">batch * heads_kv * row chunks: groups of one split.</param>
    /// <param name="maxKeys">Keys the longest batch item attends to (or the capacity when the lengths are on the device).</param>
    /// <param name="tileKeys">Keys per tile.</param>
    /// <param name="multiprocessors">The device's multiprocessor count.</param>
    public static int Choose(int requested, int groups, int maxKeys, int tileKeys, int multiprocessors)
    {
        int tiles = Math.Max(1, (maxKeys + tileKeys - 1) / tileKeys);
        if (requested > 0)
            return Math.Min(requested, tiles);
        int target = 2 * Math.Max(1, multiprocessors);
        if (groups >= target)
            return 1;
        int splits = (target + groups - 1) / Math.Max(1, groups);
        return Math.Max(1, Math.Min(Math.Min(splits, MaxAuto), tiles));
    }
}
