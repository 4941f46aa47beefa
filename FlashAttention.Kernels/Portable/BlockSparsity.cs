namespace FlashAttention.Kernels.Portable;

/// <summary>
/// The block mask of a launch on the device (AttentionBlockMask): which (query block, key block)
/// pairs are visible, one byte each, [batch | 1, heads | 1, query blocks, key blocks]. Block sizes are
/// multiples of 128, so every tile of every kernel lies inside one block, and a tile of a hidden
/// block is skipped whole: no load, no product, no per-element test.
/// </summary>
public struct BlockSparsity
{
    /// <summary>0: no block mask, every tile is visible.</summary>
    public int Active;

    /// <summary>Nonzero = visible; a one-byte dummy when <see cref="Active"/> is 0.</summary>
    public ArrayView<byte> Blocks;

    /// <summary>Blocks between batch items (0 when the mask broadcasts over batch).</summary>
    public long BatchStride;

    /// <summary>Blocks between heads (0 when the mask broadcasts over heads).</summary>
    public long HeadStride;

    /// <summary>Key blocks per row of blocks.</summary>
    public int KeyBlocks;

    /// <summary>Query rows per block.</summary>
    public int BlockSizeQ;

    /// <summary>Keys per block.</summary>
    public int BlockSizeK;

    /// <summary>Whether the tile starting at query <paramref name="row"/> and key <paramref name="col"/> is visible.</summary>
    public readonly bool Visible(int batch, int head, int row, int col) =>
        Active == 0
        || Blocks[batch * BatchStride + head * HeadStride + (long)(row / BlockSizeQ) * KeyBlocks + col / BlockSizeK] != 0;

    /// <summary>
    /// The first key tile at or after <paramref name="tile"/> (tiles of <paramref name="width"/> keys)
    /// and before <paramref name="endTile"/> that rows from <paramref name="row"/> may see; <paramref name="endTile"/> when none.
    /// </summary>
    public readonly int NextVisibleTile(int batch, int head, int row, int tile, int endTile, int width)
    {
        while (tile < endTile && !Visible(batch, head, row, tile * width))
            tile++;
        return tile;
    }
}
