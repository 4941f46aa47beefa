namespace FlashAttention;

/// <summary>
/// One attention launch of a ring step: the queries of one chunk against the first
/// <see cref="KeyLength"/> keys of the visiting shard (a shard holds its chunks in sequence order,
/// so the keys a causal query chunk can see are always a prefix).
/// </summary>
/// <param name="QueryChunk">Which of the device's chunks (an index into <see cref="RingLayout.ChunksOf"/>).</param>
/// <param name="Query">That chunk.</param>
/// <param name="KeyLength">Keys of the visiting shard taken, from its first (at least 1).</param>
/// <param name="Causal">
/// Whether the prefix ends with the query chunk itself, so that the launch is causal; the mask is
/// aligned to the bottom-right corner, which makes the earlier chunks of the prefix fully visible.
/// </param>
public readonly record struct RingBlock(int QueryChunk, RingChunk Query, int KeyLength, bool Causal)
{
    /// <summary>(query, key) position pairs this block computes.</summary>
    public long VisiblePairs => Causal
        ? (long)Query.Length * (KeyLength - Query.Length) + (long)Query.Length * (Query.Length + 1) / 2
        : (long)Query.Length * KeyLength;
}
