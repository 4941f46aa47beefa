using FlashAttention.Kernels.Portable;

namespace FlashAttention.Kernels.TensorCore;

/// <summary>
/// Global -> shared copies of a [rows, dim] tile into the <see cref="Swizzle128"/> layout for the
/// wgmma kernel, by a group of a compile-time <c>threads</c> size, when every row starts on a 16-byte
/// boundary (otherwise <see cref="TileCopy"/> copies element by element). Each thread keeps one
/// 16-byte column of the tile and walks down the rows with running addresses: the copy costs a few
/// integer operations per cp.async (the general form spent about 30, nearly half the kernel's
/// instructions per tile on the H100). When a pass covers a multiple of 8 rows a thread's row stays
/// the same modulo 8, so its swizzled offset only advances, with a jump at each 64-row block.
/// Rows past <c>validRows</c> and dims past the head dim are written as zeros.
/// </summary>
internal static class SwizzledTileCopy
{
    public static void Load<TTarget>(in StridedTensor<ushort> source, int batch, int head, int firstRow, int validRows, int rows,
        int dim, int headDim, int threads, ArrayView<ushort> shared, int sharedBase, int baseOffset)
        where TTarget : struct, ITensorCoreTarget
    {
        int chunksPerRow = dim / 8;
        int rowsPerPass = threads / chunksPerRow;           // compile-time in the kernels
        bool steady = rowsPerPass % 8 == 0;
        int passes = (rows + rowsPerPass - 1) / rowsPerPass; // the same for every thread: ILGPU's branches are warp-uniform (bra.uni)
        int r = Group.IdxX / chunksPerRow;
        int d = (Group.IdxX - r * chunksPerRow) * 8;
        bool active = Group.IdxX < rowsPerPass * chunksPerRow && d < headDim;
        long offset = source.RowOffset(batch, firstRow + r, head) + d;
        long step = rowsPerPass * source.RowStride;
        ulong address = source.Address + (ulong)(offset * 2);
        int at = baseOffset + Swizzle128.Offset(r, d, dim);
        for (int pass = 0; pass < passes; pass++)
        {
            bool valid = active && r < validRows;
            if (default(TTarget).EmitsPtx)
            {
                if (r < rows && Group.IdxX < rowsPerPass * chunksPerRow)
                    CpAsync.Copy16Raw((uint)(sharedBase + 2 * at), valid ? address : source.Address, valid);
            }
            else if (r < rows && Group.IdxX < rowsPerPass * chunksPerRow)
            {
                for (int i = 0; i < 8; i++)
                    shared[at + i] = valid ? source.Data[offset + i] : (ushort)0;
            }
            r += rowsPerPass;
            offset += step;
            address += (ulong)(step * 2);
            at = steady ? at + rowsPerPass * 64 + ((r & 63) == 0 ? ((dim >> 6) - 1) * Swizzle128.BlockElements : 0)
                : baseOffset + Swizzle128.Offset(r, d, dim);
        }
    }
}
