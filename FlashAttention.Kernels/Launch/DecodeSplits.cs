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
