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

    /// <summary>1 when <see cref="HiddenRows"/> is filled (a block mask derived from a packed mask), else 0.</summary>
    public int RowSummary;

    /// <summary>
    /// Per row of blocks ([batch | 1][heads | 1][query blocks], <see cref="KeyBlocks"/> flags apart in <see cref="Blocks"/>): nonzero when
    /// it hides a block. Without a summary, <see cref="Blocks"/> again (a real view, never read).
    /// </summary>
    public ArrayView<byte> HiddenRows;

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

    /// <summary>log2 of <see cref="BlockSizeK"/> when it is a power of two, else -1: the tile loop's block index is then a shift, not a division.</summary>
    public int KeyShift;

    /// <summary>The flag index of the first key block of <paramref name="row"/>'s block row, for <see cref="PeekAt"/> (one division, outside the tile loop).</summary>
    public readonly long RowStart(int batch, int head, int row) => batch * BatchStride + head * HeadStride + (long)(row / BlockSizeQ) * KeyBlocks;

    /// <summary>
    /// Whether the row of blocks at <paramref name="rowStart"/> (<see cref="RowStart"/>) may hide a tile: false without a block
    /// mask or when the row summary says it hides none, so a kernel walks its tiles in order without reading their flags
    /// (a flag read per tile, waited for by the loop, cost the H100 4-12 % on a mask that hides nothing).
    /// </summary>
    public readonly bool MayHide(long rowStart)
    {
        if (Active == 0 || RowSummary == 0)
            return Active != 0;
        return HiddenRows[rowStart / KeyBlocks] != 0;
    }

    /// <summary>Whether the tile starting at query <paramref name="row"/> and key <paramref name="col"/> is visible.</summary>
    public readonly bool Visible(int batch, int head, int row, int col) =>
        Active == 0
        || Blocks[batch * BatchStride + head * HeadStride + (long)(row / BlockSizeQ) * KeyBlocks + col / BlockSizeK] != 0;

    /// <summary>
    /// The flag of the block holding tile <paramref name="tile"/> (tiles of <paramref name="width"/> keys) in the block
    /// row at <paramref name="rowStart"/> (<see cref="RowStart"/>), loaded
    /// whatever <see cref="Active"/> says (the index clamped into the view): a kernel issues it a step before it
    /// needs the answer and passes it to <see cref="NextVisibleTileAfter"/>, so the load's latency hides behind
    /// that step instead of stalling the tile loop.
    /// </summary>
    public readonly byte PeekAt(long rowStart, int tile, int width)
    {
        int col = tile * width;
        return Blocks[Math.Min(rowStart + (KeyShift >= 0 ? col >> KeyShift : col / BlockSizeK), Blocks.Length - 1)];
    }

    /// <summary>
    /// <see cref="NextVisibleTile"/> from <paramref name="tile"/>, whose block's flag <paramref name="peeked"/> came from <see cref="PeekAt"/>.
    /// </summary>
    public readonly int NextVisibleTileAfter(byte peeked, int batch, int head, int row, int tile, int endTile, int width) =>
        Active == 0 || peeked != 0 || tile >= endTile ? Math.Min(tile, endTile) : NextVisibleTile(batch, head, row, tile + 1, endTile, width);

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
