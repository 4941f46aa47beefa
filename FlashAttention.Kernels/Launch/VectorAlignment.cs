using System.Runtime.CompilerServices;
using FlashAttention.Kernels.Portable;

namespace FlashAttention.Kernels.Launch;

/// <summary>
/// Whether a tensor's rows can be read as 16-byte vectors (ld.global.v4, cp.async): every stride a
/// whole number of 16 bytes and the view's first element on a 16-byte boundary. OpenCL views carry
/// buffer handles, not addresses, so launchers there do not ask and load element by element.
/// </summary>
internal static class VectorAlignment
{
    /// <summary>Whether every (batch, row, head) row of <paramref name="t"/> starts on a 16-byte boundary.</summary>
    public static bool RowsAligned<T>(in StridedTensor<T> t) where T : unmanaged
    {
        long size = Unsafe.SizeOf<T>();
        return t.BatchStride * size % 16 == 0 && t.RowStride * size % 16 == 0 && t.HeadStride * size % 16 == 0
               && AddressOf(t.Data) % 16 == 0;
    }

    /// <summary>The device address of the view's first element (0 for an empty view).</summary>
    public static ulong AddressOf<T>(ArrayView<T> view) where T : unmanaged =>
        view.Length == 0 ? 0 : (ulong)(long)view.LoadEffectiveAddressAsPtr();
}
