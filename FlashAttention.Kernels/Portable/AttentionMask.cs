namespace FlashAttention.Kernels.Portable;

/// <summary>
/// Which (query i, key j) pairs take part. Keys past the sequence end are always out. Both the
/// causal mask and the sliding window are bands around the diagonal j = i + (seqlen_k - seqlen_q),
/// aligned to the bottom-right corner as in FlashAttention-2: query i sees keys j with
/// i + off - left &lt;= j &lt;= i + off + right, where off = seqlen_k - seqlen_q, and causal
/// attention is the band with right = 0 and no left bound. Causal and a window together give the
/// intersection of the two bands. The same bounds tell a block of rows which key tiles it can skip
/// (<see cref="KeyStart"/>, <see cref="KeyEnd"/>) and a block of keys which query tiles can see it
/// (<see cref="QueryStart"/>, <see cref="QueryEnd"/>), so the work is proportional to the band.
/// </summary>
public struct AttentionMask
{
    /// <summary>A reach that never masks anything: an unbounded side of the band.</summary>
    public const int Unbounded = int.MaxValue;

    /// <summary>Key sequence length.</summary>
    public int SeqLenK;

    /// <summary>1 for causal attention.</summary>
    public int Causal;

    /// <summary>seqlen_k - seqlen_q: shifts the diagonal to the bottom-right corner.</summary>
    public int DiagonalOffset;

    /// <summary>How far left of the diagonal a query sees (keys j &gt;= i + off - LeftReach); <see cref="Unbounded"/> when it sees all.</summary>
    public int LeftReach;

    /// <summary>How far right of the diagonal a query sees (keys j &lt;= i + off + RightReach): 0 when causal; <see cref="Unbounded"/> when it sees all.</summary>
    public int RightReach;

    /// <summary>Makes the mask of one launch.</summary>
    /// <param name="seqLenQ">Query sequence length.</param>
    /// <param name="seqLenK">Key sequence length.</param>
    /// <param name="causal">Causal attention (right reach 0).</param>
    /// <param name="windowLeft">Sliding-window left size; negative for no left bound.</param>
    /// <param name="windowRight">Sliding-window right size; negative for no right bound.</param>
    public AttentionMask(int seqLenQ, int seqLenK, bool causal, int windowLeft = -1, int windowRight = -1)
    {
        SeqLenK = seqLenK;
        Causal = causal ? 1 : 0;
        DiagonalOffset = seqLenK - seqLenQ;
        LeftReach = windowLeft < 0 ? Unbounded : windowLeft;
        int right = windowRight < 0 ? Unbounded : windowRight;
        RightReach = causal ? Math.Min(right, 0) : right;
    }

    /// <summary>Whether query <paramref name="i"/> must not see key <paramref name="j"/>.</summary>
    public readonly bool IsMasked(int i, int j)
    {
        // Distance from the diagonal; reaches of int.MaxValue compare without overflow.
        int d = j - i - DiagonalOffset;
        return j >= SeqLenK || d > RightReach || d < -LeftReach;
    }

    /// <summary>
    /// Whether every pair of the block rows <paramref name="firstRow"/> .. <paramref name="lastRow"/> by keys
    /// <paramref name="firstCol"/> .. <paramref name="lastCol"/> is visible: such blocks skip the per-element test.
    /// </summary>
    public readonly bool AllVisible(int firstRow, int lastRow, int firstCol, int lastCol) =>
        lastCol < SeqLenK
        && (long)lastCol - firstRow - DiagonalOffset <= RightReach
        && (long)firstCol - lastRow - DiagonalOffset >= -(long)LeftReach;

    /// <summary>
    /// The first key that any query at or after <paramref name="firstRow"/> can see: key tiles that end
    /// before it are skipped, not computed. 0 without a left bound.
    /// </summary>
    public readonly int KeyStart(int firstRow) => (int)Math.Max(0L, (long)firstRow + DiagonalOffset - LeftReach);

    /// <summary>
    /// One past the last key that any query before <paramref name="endRow"/> can see: key tiles at or
    /// beyond it are skipped, not computed. Can be &lt;= 0 (or &lt;= <see cref="KeyStart"/>) when those
    /// queries see no key at all.
    /// </summary>
    public readonly int KeyEnd(int endRow) => (int)Math.Min(SeqLenK, (long)endRow + DiagonalOffset + RightReach);

    /// <summary>
    /// Where the key loop of a block of rows starting at <paramref name="firstRow"/> begins: <see cref="KeyStart"/>
    /// rounded down to a multiple of <paramref name="tileWidth"/>, so the tiles it visits are the unwindowed ones.
    /// </summary>
    public readonly int KeyTileStart(int firstRow, int tileWidth) => KeyStart(firstRow) / tileWidth * tileWidth;

    /// <summary>The first query that can see a key at or after <paramref name="firstCol"/>: earlier query tiles are skipped.</summary>
    public readonly int QueryStart(int firstCol) => (int)Math.Max(0L, (long)firstCol - DiagonalOffset - RightReach);

    /// <summary>
    /// One past the last query that can see a key before <paramref name="endCol"/> (at most seqlen_q):
    /// query tiles at or beyond it are skipped.
    /// </summary>
    public readonly int QueryEnd(int endCol) => (int)Math.Min((long)SeqLenK - DiagonalOffset, (long)endCol - DiagonalOffset + LeftReach);
}
