namespace FlashAttention;

/// <summary>
/// A sliding (local) attention window, FlashAttention-2's <c>window_size=(left, right)</c>: query i
/// sees keys j with i + off - <see cref="Left"/> &lt;= j &lt;= i + off + <see cref="Right"/>,
/// where off = seqlen_k - seqlen_q (aligned to the bottom-right corner, like the causal mask, so
/// the last query is centred on the last key). A side of <see cref="Unbounded"/> (-1) has no limit,
/// as in FlashAttention-2: <c>new AttentionWindow(-1, -1)</c> is full attention and
/// <c>new AttentionWindow(-1, 0)</c> is causal. Sizes count keys, so <c>(256, 0)</c> lets each
/// query see itself and the 256 keys before it.
/// </summary>
/// <param name="Left">Keys visible before the diagonal, or -1 for all of them.</param>
/// <param name="Right">Keys visible after the diagonal, or -1 for all of them.</param>
public readonly record struct AttentionWindow(int Left, int Right)
{
    /// <summary>The size of a side with no limit.</summary>
    public const int Unbounded = -1;
}
