namespace FlashAttention.Kernels.Portable;

/// <summary>
/// Which (query i, key j) pairs take part. Keys past the sequence end are always out; with causal
/// attention a query sees keys j &lt;= i + (seqlen_k - seqlen_q): the mask is aligned to the
/// bottom-right corner as in FlashAttention-2, so the last query always sees the last key.
/// </summary>
public struct AttentionMask
{
    /// <summary>Key sequence length.</summary>
    public int SeqLenK;

    /// <summary>1 for causal attention.</summary>
    public int Causal;

    /// <summary>seqlen_k - seqlen_q: shifts the causal diagonal to the bottom-right corner.</summary>
    public int DiagonalOffset;

    /// <summary>Makes the mask of one launch.</summary>
    public AttentionMask(int seqLenQ, int seqLenK, bool causal)
    {
        SeqLenK = seqLenK;
        Causal = causal ? 1 : 0;
        DiagonalOffset = seqLenK - seqLenQ;
    }

    /// <summary>Whether query <paramref name="i"/> must not see key <paramref name="j"/>.</summary>
    public readonly bool IsMasked(int i, int j) => j >= SeqLenK || (Causal != 0 && j > i + DiagonalOffset);

    /// <summary>
    /// One past the last key that any query before <paramref name="endRow"/> can see: key tiles at or
    /// beyond it are skipped, not computed. Can be &lt;= 0 when those queries see no key at all.
    /// </summary>
    public readonly int KeyEnd(int endRow) =>
        Causal != 0 ? Math.Min(SeqLenK, endRow + DiagonalOffset) : SeqLenK;
}
