namespace FlashAttention;

/// <summary>
/// A block-sparse mask: the queries of block r (rows r * BlockSizeQ .. (r + 1) * BlockSizeQ - 1) see
/// the keys of block c only where <c>Blocks[b | 0, h | 0, r, c]</c> is true. Layout
/// [batch | 1, heads_q | 1, QueryBlocks, KeyBlocks], row-major, with QueryBlocks = ceil(seqlen_q /
/// BlockSizeQ) and KeyBlocks = ceil(seqlen_k / BlockSizeK). The kernels skip the tiles of a hidden
/// block without loading or computing them, so the time grows with the visible blocks, not with
/// seqlen_q * seqlen_k; inside a visible block every pair is visible unless causal, the window,
/// <see cref="AttentionOptions.Mask"/> or <see cref="AttentionOptions.Bias"/> hide it. Block sizes
/// are multiples of <see cref="Granularity"/>, so every kernel tile lies inside one block. This is
/// FlexAttention's block mask without "partial" blocks: give a partially visible block as visible
/// and its pattern as a <see cref="AttentionOptions.Mask"/> (<see cref="FromMask"/> builds exactly that).
/// </summary>
/// <param name="Blocks">The visible blocks, [Batch, Heads, QueryBlocks, KeyBlocks].</param>
/// <param name="Batch">1 (the same for every batch item) or q's batch.</param>
/// <param name="Heads">1 (the same for every head) or heads_q.</param>
/// <param name="QueryBlocks">ceil(seqlen_q / BlockSizeQ).</param>
/// <param name="KeyBlocks">ceil(seqlen_k / BlockSizeK).</param>
/// <param name="BlockSizeQ">Query rows per block, a positive multiple of <see cref="Granularity"/>.</param>
/// <param name="BlockSizeK">Keys per block, a positive multiple of <see cref="Granularity"/>.</param>
public sealed record AttentionBlockMask(bool[] Blocks, int Batch, int Heads, int QueryBlocks, int KeyBlocks,
    int BlockSizeQ = AttentionBlockMask.Granularity, int BlockSizeK = AttentionBlockMask.Granularity)
{
    /// <summary>Block sizes are multiples of this: the largest query or key tile of any kernel.</summary>
    public const int Granularity = 128;

    /// <summary>
    /// The block mask of an element mask: a block is visible when any of its pairs is. Passing both,
    /// <c>new AttentionOptions { Mask = mask, BlockMask = AttentionBlockMask.FromMask(mask) }</c>, gives
    /// the same result as the mask alone and skips the tiles it hides entirely.
    /// </summary>
    public static AttentionBlockMask FromMask(AttentionBooleanMask mask, int blockSizeQ = Granularity, int blockSizeK = Granularity)
    {
        ArgumentNullException.ThrowIfNull(mask);
        ArgumentNullException.ThrowIfNull(mask.Data, "mask.Data");
        if (blockSizeQ <= 0 || blockSizeQ % Granularity != 0)
            throw new ArgumentOutOfRangeException(nameof(blockSizeQ), blockSizeQ, $"expected a positive multiple of {Granularity}");
        if (blockSizeK <= 0 || blockSizeK % Granularity != 0)
            throw new ArgumentOutOfRangeException(nameof(blockSizeK), blockSizeK, $"expected a positive multiple of {Granularity}");
        long expected = (long)mask.Batch * mask.Heads * mask.SeqLenQ * mask.SeqLenK;
        if (mask.Data.LongLength != expected)
            throw new ArgumentException($"mask.Data has {mask.Data.LongLength} elements; expected Batch * Heads * SeqLenQ * SeqLenK = {expected}", nameof(mask));
        int rows = (mask.SeqLenQ + blockSizeQ - 1) / blockSizeQ;
        int cols = (mask.SeqLenK + blockSizeK - 1) / blockSizeK;
        var blocks = new bool[(long)mask.Batch * mask.Heads * rows * cols];
        for (long plane = 0; plane < (long)mask.Batch * mask.Heads; plane++)
        for (int i = 0; i < mask.SeqLenQ; i++)
        for (int j = 0; j < mask.SeqLenK; j++)
            if (mask.Data[(plane * mask.SeqLenQ + i) * mask.SeqLenK + j])
                blocks[(plane * rows + i / blockSizeQ) * cols + j / blockSizeK] = true;
        return new AttentionBlockMask(blocks, mask.Batch, mask.Heads, rows, cols, blockSizeQ, blockSizeK);
    }

    /// <summary>Whether query <paramref name="i"/> of (batch <paramref name="b"/>, head <paramref name="h"/>) may see key <paramref name="j"/>.</summary>
    public bool Visible(int b, int h, int i, int j) =>
        Blocks[(((long)(Batch == 1 ? 0 : b) * Heads + (Heads == 1 ? 0 : h)) * QueryBlocks + i / BlockSizeQ) * KeyBlocks + j / BlockSizeK];
}
