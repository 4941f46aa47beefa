using FlashAttention.Kernels.Portable;

namespace FlashAttention.Kernels.TensorCore;

/// <summary>
/// Global -> shared copies of a [rows, dim] tile of 16-bit elements for the tensor-core kernels, by
/// every thread of the group. When every row starts on a 16-byte boundary the copy is cp.async in
/// 16-byte chunks (asynchronous: <see cref="CpAsync.Commit{TTarget}"/>, then <see cref="CpAsync.WaitAll{TTarget}"/> and
/// a barrier before use); otherwise element by element. Rows past the sequence and dims past the
/// head dim are written as zeros, so partial tiles need no other care in the products. Rows lie
/// <c>stride</c> elements apart for mma.sync's ldmatrix. The wgmma kernel copies aligned tiles with
/// <see cref="SwizzledTileCopy"/> and only unaligned ones here (<see cref="LoadElements{TTarget}"/>),
/// into <see cref="Swizzle128"/>'s layout (its target selects it; <c>stride</c> is then unused).
/// </summary>
internal static class TileCopy
{
    public static void Load<TTarget>(in StridedTensor<ushort> source, int batch, int head, int firstRow, int validRows,
        int rows, int dim, int headDim, bool vectorized, ArrayView<ushort> shared, int baseOffset, int stride)
        where TTarget : struct, ITensorCoreTarget
    {
        bool swizzled = default(TTarget).Wgmma;
        if (vectorized && !swizzled)
        {
            // A thread keeps one 16-byte column of the tile and walks down the rows: the group size
            // is a multiple of the chunks per row for every compiled head dim, so the column is fixed
            // and each step is two additions, not a fresh 64-bit row offset.
            int chunksPerRow = dim / 8;
            int rowsPerPass = Group.DimX / chunksPerRow;
            int r = Group.IdxX / chunksPerRow;
            int d = (Group.IdxX - r * chunksPerRow) * 8;
            bool column = d < headDim; // headDim is a multiple of 8 here: a chunk is wholly inside or past it
            long offset = source.RowOffset(batch, firstRow + r, head) + d;
            long step = rowsPerPass * source.RowStride;
            int sharedOffset = baseOffset + r * stride + d;
            for (; r < rows; r += rowsPerPass)
            {
                bool valid = column && r < validRows;
                CpAsync.Copy16<TTarget>(shared, sharedOffset, source, valid ? offset : 0, valid);
                offset += step;
                sharedOffset += rowsPerPass * stride;
            }
            return;
        }
        LoadElements<TTarget>(source, source.RowOffset(batch, 0, head), firstRow, validRows, rows, dim, headDim, shared, baseOffset, stride);
    }

    /// <summary>
    /// The element-by-element form of <see cref="Load{TTarget}"/>, for the (batch, head) whose row 0 starts at element
    /// <paramref name="headOffset"/> of <paramref name="source"/>.
    /// </summary>
    public static void LoadElements<TTarget>(in StridedTensor<ushort> source, long headOffset, int firstRow, int validRows,
        int rows, int dim, int headDim, ArrayView<ushort> shared, int baseOffset, int stride)
        where TTarget : struct, ITensorCoreTarget
    {
        bool swizzled = default(TTarget).Wgmma;
        for (int idx = Group.IdxX; idx < rows * dim; idx += Group.DimX)
        {
            int r = idx / dim;
            int d = idx - r * dim;
            shared[baseOffset + (swizzled ? Swizzle128.Offset(r, d, dim) : r * stride + d)] = r < validRows && d < headDim
                ? source.Data[headOffset + (firstRow + r) * source.RowStride + d]
                : (ushort)0;
        }
    }
}
