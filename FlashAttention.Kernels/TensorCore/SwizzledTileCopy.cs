using FlashAttention.Kernels.Portable;

namespace FlashAttention.Kernels.TensorCore;

/// <summary>
/// One thread's share of the global -> shared copies of [rows, dim] tiles into the
/// <see cref="Swizzle128"/> layout, for the wgmma kernel, when every row starts on a 16-byte boundary
/// (otherwise <see cref="TileCopy"/> copies element by element). The thread keeps one 16-byte column
/// and walks down the rows, a pass of the group apart, with running addresses. What does not change
/// between tiles is computed once: the shares here, and per tensor the start of the group's batch item
/// and head (<see cref="HeadStart{TTarget}"/>), so a tile's copy finds its first address with one
/// 32 x 64-bit product (the row offset's three 64-bit products took about 30 instructions a copy in
/// sm_90a SASS, and each pass 16 more). A full tile then issues its passes, a compile-time count,
/// written out and with no per-row test.
/// When a pass covers a multiple of 8 rows a thread's row stays the same modulo 8, so its swizzled
/// offset only advances, with a jump where a 64-row block ends. Rows past the valid ones and dims past
/// the head dim are written as zeros.
/// </summary>
internal readonly struct SwizzledTileCopy
{
    private readonly int chunksPerRow;
    private readonly int rowsPerPass;
    private readonly int at0;         // this thread's first element's swizzled offset
    private readonly bool whole;      // every thread has a column in every pass (the group is a whole number of rows' chunks)
    private readonly bool copies;     // threads past the last whole column set copy nothing
    private readonly bool inHead;     // the column lies inside the head dim (else zeros)

    /// <summary>The share of the calling thread, in a group of <paramref name="threads"/> (a compile-time value in the kernel).</summary>
    public SwizzledTileCopy(int dim, int headDim, int threads)
    {
        chunksPerRow = dim / 8;
        rowsPerPass = threads / chunksPerRow;
        // Folded where the group divides into rows (all but d 192 with 4 or 8 warps), so the fast path of Load tests nothing per thread.
        whole = rowsPerPass * chunksPerRow == threads;
        copies = whole || Group.IdxX < rowsPerPass * chunksPerRow;
        inHead = Column < headDim;
        at0 = Swizzle128.Offset(FirstRow, Column, dim);
    }

    // This thread's first row in a tile and its column's first dim: derived from the thread index where needed, not kept. The
    // kernels hold a SwizzledTileCopy through their key loop, where registers are scarce: kept as fields, they cost the d 128
    // kernels (at the bound of 128) more spills.
    private int FirstRow => Group.IdxX / chunksPerRow;

    private int Column => (Group.IdxX - FirstRow * chunksPerRow) * 8;

    /// <summary>
    /// Row 0, dim 0 of (<paramref name="batch"/>, <paramref name="head"/>) of <paramref name="source"/>: a byte address on CUDA
    /// (for cp.async), an element index into <see cref="StridedTensor{T}.Data"/> in the emulation. The same for every tile and
    /// every thread, so a kernel computes it once per tensor and passes it to <see cref="Load{TTarget}"/>; ptxas can keep such a
    /// value in uniform registers, outside the 128 a thread of the bounded d 128 kernels may use (a per-thread start, two 64-bit
    /// registers per tensor, made those kernels spill more).
    /// </summary>
    public static ulong HeadStart<TTarget>(in StridedTensor<ushort> source, int batch, int head)
        where TTarget : struct, ITensorCoreTarget
    {
        long offset = source.RowOffset(batch, 0, head);
        return default(TTarget).EmitsPtx ? source.Address + (ulong)(offset * 2) : (ulong)offset;
    }

    /// <summary>The element offset of <paramref name="headStart"/> (<see cref="HeadStart{TTarget}"/> of <paramref name="source"/>).</summary>
    public static long HeadOffset<TTarget>(in StridedTensor<ushort> source, ulong headStart)
        where TTarget : struct, ITensorCoreTarget =>
        default(TTarget).EmitsPtx ? (long)(headStart - source.Address) / 2 : (long)headStart;

    /// <summary>
    /// Issues the copies of rows <paramref name="firstRow"/> .. + <paramref name="rows"/> of <paramref name="source"/> (the first
    /// <paramref name="validRows"/> real, the rest zeros) to shared element <paramref name="baseOffset"/>, from the batch item and head
    /// at <paramref name="headStart"/> (<see cref="HeadStart{TTarget}"/>); <paramref name="sharedBase"/> is the dynamic buffer's byte address.
    /// </summary>
    public void Load<TTarget>(in StridedTensor<ushort> source, ulong headStart, int firstRow, int validRows, int rows, int dim,
        ArrayView<ushort> shared, int sharedBase, int baseOffset)
        where TTarget : struct, ITensorCoreTarget
    {
        bool ptx = default(TTarget).EmitsPtx;
        int unit = ptx ? 2 : 1;                                      // a row stride's bytes on CUDA, its elements in the emulation
        bool steady = rowsPerPass % 8 == 0;
        int passes = (rows + rowsPerPass - 1) / rowsPerPass;         // the same for every thread: ILGPU's branches are warp-uniform (bra.uni)
        long step = rowsPerPass * source.RowStride * unit;
        // Unsigned: a 32 x 64-bit product with the column added in, no sign extensions. A column past the head dim reads its row's
        // first element instead, an address inside every full tile, so a full tile's zero-fill copies need no other source.
        ulong address = headStart + (ulong)unit * ((uint)(firstRow + FirstRow) * (ulong)source.RowStride + (uint)(inHead ? Column : 0));
        int at = baseOffset + at0;

        // A full tile (every key tile but a sequence's last) whose passes stay inside one 64-row block of the swizzle (a K or V
        // tile, or any tile 64 wide): no row is tested but in a last pass that runs past the tile (three warpgroups: 24 or 48 rows
        // a pass), the swizzled offset advances by a constant, and the pass count is a compile-time constant, as is everything here
        // but validRows.
        if (validRows == rows && whole && steady && (rows <= 64 || dim == 64))
        {
            // ILGPU does not unroll loops and ptxas did not unroll this one (a counter, a compare and register moves a pass): the passes
            // are written out, up to the 8 of the kernels' largest full tiles, each a fixed distance from the first.
            int to = ptx ? sharedBase + 2 * at : at;
            int advance = unit * rowsPerPass * 64;
            int full = rows / rowsPerPass;                           // passes whose rows all lie in the tile
            int row0 = FirstRow;
            Issue<TTarget>(source, shared, to, address, full > 0 || row0 < rows);
            if (passes > 1)
                Issue<TTarget>(source, shared, to + advance, address + (ulong)step, full > 1 || row0 + rowsPerPass < rows);
            if (passes > 2)
                Issue<TTarget>(source, shared, to + 2 * advance, address + (ulong)(2 * step), full > 2 || row0 + 2 * rowsPerPass < rows);
            if (passes > 3)
                Issue<TTarget>(source, shared, to + 3 * advance, address + (ulong)(3 * step), full > 3 || row0 + 3 * rowsPerPass < rows);
            if (passes > 4)
                Issue<TTarget>(source, shared, to + 4 * advance, address + (ulong)(4 * step), full > 4 || row0 + 4 * rowsPerPass < rows);
            if (passes > 5)
                Issue<TTarget>(source, shared, to + 5 * advance, address + (ulong)(5 * step), full > 5 || row0 + 5 * rowsPerPass < rows);
            if (passes > 6)
                Issue<TTarget>(source, shared, to + 6 * advance, address + (ulong)(6 * step), full > 6 || row0 + 6 * rowsPerPass < rows);
            if (passes > 7)
                Issue<TTarget>(source, shared, to + 7 * advance, address + (ulong)(7 * step), full > 7 || row0 + 7 * rowsPerPass < rows);
            for (int pass = 8; pass < passes; pass++)
                Issue<TTarget>(source, shared, to + pass * advance, address + (ulong)(pass * step), full > pass || row0 + pass * rowsPerPass < rows);
            return;
        }

        // A partial tile, or a layout whose passes cross 64-row blocks or change a row's swizzle.
        int blockJump = ((dim >> 6) - 1) * Swizzle128.BlockElements; // from a 64-row block's end to the next block's start
        int r = FirstRow;
        for (int pass = 0; pass < passes; pass++)
        {
            bool valid = inHead && r < validRows;
            if (copies && r < rows)
            {
                if (ptx)
                {
                    CpAsync.Copy16Raw((uint)(sharedBase + 2 * at), valid ? address : source.Address, valid);
                }
                else
                {
                    for (int i = 0; i < 8; i++)
                        shared[at + i] = valid ? source.Data[(long)address + i] : (ushort)0;
                }
            }
            r += rowsPerPass;
            address += (ulong)step;
            // A pass crosses into the next 64-row block exactly when the row's offset inside its block falls below a pass.
            at = steady ? at + rowsPerPass * 64 + ((r & 63) < rowsPerPass ? blockJump : 0) : baseOffset + Swizzle128.Offset(r, Column, dim);
        }
    }

    /// <summary>
    /// One 16-byte copy of a full tile's pass, if <paramref name="inTile"/> (its row lies in the tile): to shared byte address
    /// <paramref name="to"/> from global byte address <paramref name="from"/> on CUDA (element offsets in the emulation), zeros for a
    /// column past the head dim.
    /// </summary>
    private void Issue<TTarget>(in StridedTensor<ushort> source, ArrayView<ushort> shared, int to, ulong from, bool inTile)
        where TTarget : struct, ITensorCoreTarget
    {
        if (!inTile)
            return;
        if (default(TTarget).EmitsPtx)
        {
            CpAsync.Copy16Raw((uint)to, from, inHead);
            return;
        }
        for (int i = 0; i < 8; i++)
            shared[to + i] = inHead ? source.Data[(long)from + i] : (ushort)0;
    }
}
