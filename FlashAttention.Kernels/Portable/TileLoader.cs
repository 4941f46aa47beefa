using FlashAttention.Kernels.Numerics;
using ILGPU;
using ILGPU.Runtime;

namespace FlashAttention.Kernels.Portable;

/// <summary>
/// Cooperative global-to-shared copies of one [rows, headdim] tile of a head, widened to float32.
/// Threads walk the tile with headdim fastest, so global reads are coalesced. Rows past
/// <c>validRows</c> and columns past the real head dim are filled with zeros: they then add
/// nothing to any dot product, which is what lets a padded compile-time head dim serve them.
/// </summary>
internal static class TileLoader
{
    /// <summary>Loads the tile transposed: dst[d * ld + r].</summary>
    public static void LoadTransposed<T, TOps>(
        StridedTensor<T> src, int batch, int head, int row0, int validRows, int headDim,
        int tileRows, int dimPadded, ArrayView<float> dst, int ld)
        where T : unmanaged
        where TOps : struct, IElementOps<T>
    {
        for (int idx = Group.IdxX; idx < tileRows * dimPadded; idx += Group.DimX)
        {
            int r = idx / dimPadded;
            int d = idx - r * dimPadded;
            dst[d * ld + r] = Read<T, TOps>(src, batch, head, row0 + r, r < validRows && d < headDim, d);
        }
    }

    /// <summary>Loads the tile row-major: dst[r * ld + d].</summary>
    public static void LoadRowMajor<T, TOps>(
        StridedTensor<T> src, int batch, int head, int row0, int validRows, int headDim,
        int tileRows, int dimPadded, ArrayView<float> dst, int ld)
        where T : unmanaged
        where TOps : struct, IElementOps<T>
    {
        for (int idx = Group.IdxX; idx < tileRows * dimPadded; idx += Group.DimX)
        {
            int r = idx / dimPadded;
            int d = idx - r * dimPadded;
            dst[r * ld + d] = Read<T, TOps>(src, batch, head, row0 + r, r < validRows && d < headDim, d);
        }
    }

    private static float Read<T, TOps>(StridedTensor<T> src, int batch, int head, int row, bool inside, int d)
        where T : unmanaged
        where TOps : struct, IElementOps<T> =>
        inside ? default(TOps).ToFloat(src.Data[src.RowOffset(batch, row, head) + d]) : 0f;
}
