using FlashAttention.Kernels.Portable;

namespace FlashAttention.Kernels.TensorCore;

/// <summary>
/// One thread's share of the global -> shared copies of [rows, dim] tiles into the
/// <see cref="Swizzle128"/> layout, for the wgmma kernel, when every row starts on a 16-byte boundary
/// (otherwise <see cref="TileCopy"/> copies element by element). The thread keeps one 16-byte column
/// and walks down the rows, a pass of the group apart, with running addresses: everything that does
/// not change between tiles is computed once, here, and a copy costs a few integer operations per
/// cp.async (the general form spent about 30, nearly half the kernel's instructions per tile on the
/// H100). When a pass covers a multiple of 8 rows a thread's row stays the same modulo 8, so its
/// swizzled offset only advances, with a jump where a 64-row block ends. Rows past the valid ones and
/// dims past the head dim are written as zeros.
/// </summary>
internal readonly struct SwizzledTileCopy
{
    private readonly int row0;        // this thread's first row in a tile
    private readonly int col;         // its column's first dim
    private readonly int at0;         // its first element's swizzled offset
    private readonly int rowsPerPass;
    private readonly bool copies;     // threads past the last whole column set copy nothing
    private readonly bool inHead;     // the column lies inside the head dim (else zeros)

    /// <summary>The share of the calling thread, in a group of <paramref name="threads"/> (a compile-time value in the kernel).</summary>
    public SwizzledTileCopy(int dim, int headDim, int threads)
    {
        int chunksPerRow = dim / 8;
        rowsPerPass = threads / chunksPerRow;
        int thread = Group.IdxX;
        row0 = thread / chunksPerRow;
        col = (thread - row0 * chunksPerRow) * 8;
        copies = thread < rowsPerPass * chunksPerRow;
        inHead = col < headDim;
        at0 = Swizzle128.Offset(row0, col, dim);
    }

    /// <summary>
    /// Issues the copies of rows <paramref name="firstRow"/> .. + <paramref name="rows"/> of (batch, head)
    /// (the first <paramref name="validRows"/> real, the rest zeros) to shared element <paramref name="baseOffset"/>;
    /// <paramref name="sharedBase"/> is the dynamic buffer's byte address.
    /// </summary>
    public void Load<TTarget>(in StridedTensor<ushort> source, int batch, int head, int firstRow, int validRows, int rows, int dim,
        ArrayView<ushort> shared, int sharedBase, int baseOffset)
        where TTarget : struct, ITensorCoreTarget
    {
        bool steady = rowsPerPass % 8 == 0;
        int blockJump = ((dim >> 6) - 1) * Swizzle128.BlockElements; // from a 64-row block's end to the next block's start
        int passes = (rows + rowsPerPass - 1) / rowsPerPass;         // the same for every thread: ILGPU's branches are warp-uniform (bra.uni)
        long offset = source.RowOffset(batch, firstRow + row0, head) + col;
        long step = rowsPerPass * source.RowStride;
        ulong address = source.Address + (ulong)(offset * 2);
        int r = row0;
        int at = baseOffset + at0;
        for (int pass = 0; pass < passes; pass++)
        {
            bool valid = inHead && r < validRows;
            if (copies && r < rows)
            {
                if (default(TTarget).EmitsPtx)
                {
                    CpAsync.Copy16Raw((uint)(sharedBase + 2 * at), valid ? address : source.Address, valid);
                }
                else
                {
                    for (int i = 0; i < 8; i++)
                        shared[at + i] = valid ? source.Data[offset + i] : (ushort)0;
                }
            }
            r += rowsPerPass;
            offset += step;
            address += (ulong)(step * 2);
            // A pass crosses into the next 64-row block exactly when the row's offset inside its block falls below a pass.
            at = steady ? at + rowsPerPass * 64 + ((r & 63) < rowsPerPass ? blockJump : 0) : baseOffset + Swizzle128.Offset(r, col, dim);
        }
    }
}
