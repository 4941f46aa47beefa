using FlashAttention.Kernels.Portable;

namespace FlashAttention.Kernels.TensorCore;

/// <summary>
/// Global -> shared copies of a [rows, dim] tile of 16-bit elements for the tensor-core kernels, by
/// every thread of the group. When every row starts on a 16-byte boundary the copy is cp.async in
/// 16-byte chunks (asynchronous: <see cref="CpAsync.Commit{TTarget}"/>, then <see cref="CpAsync.WaitAll{TTarget}"/> and
/// a barrier before use); otherwise element by element. Rows past the sequence and dims past the
/// head dim are written as zeros, so partial tiles need no other care in the products.
/// </summary>
internal static class TileCopy
{
    public static void Load<TTarget>(in StridedTensor<ushort> source, int batch, int head, int firstRow, int validRows,
        int rows, int dim, int headDim, bool vectorized, ArrayView<ushort> shared, int baseOffset, int stride)
        where TTarget : struct, ITensorCoreTarget
    {
        if (vectorized)
        {
            int chunksPerRow = dim / 8;
            for (int c = Group.IdxX; c < rows * chunksPerRow; c += Group.DimX)
            {
                int r = c / chunksPerRow;
                int d = (c - r * chunksPerRow) * 8;
                // headDim is a multiple of 8 here, so a chunk is wholly inside or wholly past it.
                bool valid = r < validRows && d < headDim;
                long offset = valid ? source.RowOffset(batch, firstRow + r, head) + d : 0;
                CpAsync.Copy16<TTarget>(shared, baseOffset + r * stride + d, source, offset, valid);
            }
            return;
        }
        for (int idx = Group.IdxX; idx < rows * dim; idx += Group.DimX)
        {
            int r = idx / dim;
            int d = idx - r * dim;
            shared[baseOffset + r * stride + d] = r < validRows && d < headDim
                ? source.Data[source.RowOffset(batch, firstRow + r, head) + d]
                : (ushort)0;
        }
    }
}
