namespace FlashAttention.Kernels.Launch;

/// <summary>
/// How many chunks the key axis of a decode call is split into (flash-decoding). A decode group
/// owns one (batch item, kv head): with few items and heads there are fewer groups than the device
/// has room for, most of the memory system idles, and splitting the keys is what fills it.
/// </summary>
public static class DecodeSplits
{
    /// <summary>The most splits automatic choice takes (each adds one partial output row per query row to merge).</summary>
    public const int MaxAuto = 64;

    /// <summary>The most splits a caller may ask for.</summary>
    public const int MaxRequested = 256;

    /// <summary>
    /// Decode groups one multiprocessor is assumed to hold at once: a group of d 128 takes ~40 KB of
    /// shared memory (5 fit in an H100's 228 KB) and its registers allow about as many; 4 leaves headroom.
    /// </summary>
    public const int GroupsPerMultiprocessor = 4;

    /// <summary>
    /// Groups per multiprocessor the streaming kernel's cp.async ring aims at while that keeps its splits short: with three steps in
    /// flight a lane, two groups hold enough bytes in flight, and every further split adds a prologue and a partial to merge.
    /// </summary>
    public const int RingGroupsPerMultiprocessor = 2;

    /// <summary>The most keys a split of <see cref="RingGroupsPerMultiprocessor"/> may get; longer splits read faster at four groups per SM.</summary>
    public const int RingShortSplitKeys = 1024;

    /// <summary>
    /// The number of splits for the streaming kernel's ring: as <see cref="Choose"/>, but automatic choice first tries
    /// <see cref="RingGroupsPerMultiprocessor"/> groups per SM and keeps that when each split gets at most <see cref="RingShortSplitKeys"/>
    /// keys. H100, fp16, d 128, 32/8 heads, both counts in one call twice (docs/PERFORMANCE.md, session 19, s19c): the fewer
    /// splits ran batch 1 x 16K in 39.0 us against 42.5-43.0 (64 splits), 1 x 32K 62.3 against 64.4-65.1, 2 x 8K 38.0 against
    /// 39.7-40.0; with longer splits they lost (2 x 32K, 16 splits of 2K keys: 107.6-108.0 against 105.9-106.1; batch 8 x 64K,
    /// 4 splits: 755 against 719-721).
    /// </summary>
    public static int ChooseForRing(int requested, int groups, int maxKeys, int tileKeys, int multiprocessors)
    {
        if (requested == 0)
        {
            int fewer = Choose(0, groups, maxKeys, tileKeys, multiprocessors, RingGroupsPerMultiprocessor);
            if ((maxKeys + fewer - 1) / fewer <= RingShortSplitKeys)
                return fewer;
        }
        return Choose(requested, groups, maxKeys, tileKeys, multiprocessors, Portable.DecodeStreamKernel.GroupsOfThreads(GroupsPerMultiprocessor));
    }

    /// <summary>
    /// The number of splits. <paramref name="requested"/> &gt; 0 is taken as asked, but never more than the
    /// key tiles of the longest item (a split is at least one tile). 0 chooses: 1 when the groups already
    /// fill every multiprocessor's <paramref name="groupsPerMultiprocessor"/> slots, else as many splits as fit
    /// those slots in one wave (rounded down: a second, part-full wave costs as much as the first; measured
    /// on the H100, batch 8 with 5 splits ran at 488 GB/s, with 4 at 755), at most <see cref="MaxAuto"/>,
    /// at most one per key tile, and no more than it takes to give every split the same whole number of tiles.
    /// </summary>
    /// <param name="requested">The caller's number; 0 for automatic.</param>
    /// <param name="groups">batch * heads_kv * row chunks: groups of one split.</param>
    /// <param name="maxKeys">Keys the longest batch item attends to (or the capacity when the lengths are on the device).</param>
    /// <param name="tileKeys">Keys per tile.</param>
    /// <param name="multiprocessors">The device's multiprocessor count.</param>
    /// <param name="groupsPerMultiprocessor">The groups a multiprocessor is to hold (<see cref="GroupsPerMultiprocessor"/> unless the kernel needs fewer).</param>
    public static int Choose(int requested, int groups, int maxKeys, int tileKeys, int multiprocessors, int groupsPerMultiprocessor = GroupsPerMultiprocessor)
    {
        int tiles = Math.Max(1, (maxKeys + tileKeys - 1) / tileKeys);
        if (requested > 0)
            return Math.Min(requested, tiles);
        long slots = (long)Math.Max(1, groupsPerMultiprocessor) * Math.Max(1, multiprocessors);
        long fit = slots / Math.Max(1, groups);
        int splits = (int)Math.Max(1, Math.Min(Math.Min(fit, MaxAuto), tiles));
        // The kernel gives each split ceil(tiles / splits) tiles: drop splits that would be left empty.
        int tilesPerSplit = (tiles + splits - 1) / splits;
        return (tiles + tilesPerSplit - 1) / tilesPerSplit;
    }
}
