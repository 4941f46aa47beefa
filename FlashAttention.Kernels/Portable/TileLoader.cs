using FlashAttention.Kernels.Numerics;

namespace FlashAttention.Kernels.Portable;

/// <summary>
/// Cooperative global-to-shared copies of one [rows, headdim] tile of a head, widened to float32.
/// Threads walk the tile with headdim fastest, so global reads are coalesced. Rows past
/// <c>validRows</c> and columns past the real head dim are filled with zeros: they then add
/// nothing to any dot product, which is what lets a padded compile-time head dim serve them.
/// Each thread issues four loads before it stores any: ILGPU does not unroll loops, and with one
/// load in flight per thread the copy would wait out the memory latency element by element.
/// </summary>
internal static class TileLoader
{
    /// <summary>Loads the tile transposed: dst[d * ld + r].</summary>
    public static void LoadTransposed<T, TOps>(
        StridedTensor<T> src, int batch, int head, int row0, int validRows, int headDim,
        int tileRows, int dimPadded, ArrayView<float> dst, int ld)
        where T : unmanaged
        where TOps : struct, IElementOps<T> =>
        Load<T, TOps>(src, batch, head, row0, validRows, headDim, tileRows, dimPadded, dst, 1, ld);

    /// <summary>Loads the tile row-major: dst[r * ld + d].</summary>
    public static void LoadRowMajor<T, TOps>(
        StridedTensor<T> src, int batch, int head, int row0, int validRows, int headDim,
        int tileRows, int dimPadded, ArrayView<float> dst, int ld)
        where T : unmanaged
        where TOps : struct, IElementOps<T> =>
        Load<T, TOps>(src, batch, head, row0, validRows, headDim, tileRows, dimPadded, dst, ld, 1);

    /// <summary>dst[r * rowStep + d * dimStep] = src[row0 + r][d].</summary>
    private static void Load<T, TOps>(
        StridedTensor<T> src, int batch, int head, int row0, int validRows, int headDim,
        int tileRows, int dimPadded, ArrayView<float> dst, int rowStep, int dimStep)
        where T : unmanaged
        where TOps : struct, IElementOps<T>
    {
        int count = tileRows * dimPadded;
        int step = Group.DimX;
        for (int i0 = Group.IdxX; i0 < count; i0 += 4 * step)
        {
            int i1 = i0 + step, i2 = i1 + step, i3 = i2 + step;
            float v0 = Read<T, TOps>(src, batch, head, row0, validRows, headDim, dimPadded, i0, count);
            float v1 = Read<T, TOps>(src, batch, head, row0, validRows, headDim, dimPadded, i1, count);
            float v2 = Read<T, TOps>(src, batch, head, row0, validRows, headDim, dimPadded, i2, count);
            float v3 = Read<T, TOps>(src, batch, head, row0, validRows, headDim, dimPadded, i3, count);
            Write(dst, i0, count, dimPadded, rowStep, dimStep, v0);
            Write(dst, i1, count, dimPadded, rowStep, dimStep, v1);
            Write(dst, i2, count, dimPadded, rowStep, dimStep, v2);
            Write(dst, i3, count, dimPadded, rowStep, dimStep, v3);
        }
    }

    private static float Read<T, TOps>(StridedTensor<T> src, int batch, int head, int row0, int validRows, int headDim,
        int dimPadded, int idx, int count)
        where T : unmanaged
        where TOps : struct, IElementOps<T>
    {
        int r = idx / dimPadded;
        int d = idx - r * dimPadded;
        return idx < count && r < validRows && d < headDim
            ? default(TOps).ToFloat(src.Data[src.RowOffset(batch, row0 + r, head) + d])
            : 0f;
    }

    private static void Write(ArrayView<float> dst, int idx, int count, int dimPadded, int rowStep, int dimStep, float value)
    {
        if (idx >= count)
            return;
        int r = idx / dimPadded;
        int d = idx - r * dimPadded;
        dst[r * rowStep + d * dimStep] = value;
    }
}
