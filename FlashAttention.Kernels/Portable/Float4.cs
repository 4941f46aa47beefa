using System.Runtime.InteropServices;

namespace FlashAttention.Kernels.Portable;

/// <summary>
/// Four consecutive floats read or written as one 16-byte access (ld.shared.v4 / st.shared.v4 on
/// CUDA). Every tile row and every 4 x 4 block starts at a multiple of 4 floats, so these accesses
/// are always aligned; <see cref="Load"/> and <see cref="Store"/> are the only places that rely on it.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal struct Float4
{
    public float X, Y, Z, W;

    /// <summary>Reads view[offset .. offset + 3]; offset must be a multiple of 4.</summary>
    public static Float4 Load(ArrayView<float> view, int offset) => view.AsAligned(16).Cast<Float4>()[offset >> 2];

    /// <summary>Writes view[offset .. offset + 3]; offset must be a multiple of 4.</summary>
    /// <summary>
    /// The <paramref name="index"/>-th 16-byte vector of <paramref name="view"/>. Inner loops pass a
    /// running 64-bit vector index plus compile-time steps: ptxas then folds each step into the
    /// load's immediate offset, where a 32-bit float offset shifted right (<see cref="Load"/>) costs
    /// it five integer instructions per load (measured: 2.7 instructions per FMA in the v4 forward).
    /// </summary>
    public static Float4 At(ArrayView<float> view, long index) => view.AsAligned(16).Cast<Float4>()[index];

    public static void Store(ArrayView<float> view, int offset, Float4 value) => view.AsAligned(16).Cast<Float4>()[offset >> 2] = value;
}
