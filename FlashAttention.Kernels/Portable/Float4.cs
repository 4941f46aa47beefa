using System.Runtime.InteropServices;

namespace FlashAttention.Kernels.Portable;

/// <summary>
/// Four consecutive floats read or written as one 16-byte access (ld.shared.v4 / st.shared.v4 on
/// CUDA). Every tile row and every 4 x 4 block starts at a multiple of 4 floats, so these accesses
/// are always aligned; <see cref="Load"/> and <see cref="Store"/> are the only places that rely on it.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public struct Float4
{
    /// <summary>The four elements.</summary>
    public float X, Y, Z, W;

    /// <summary>Reads view[offset .. offset + 3]; offset must be a multiple of 4.</summary>
    public static Float4 Load(ArrayView<float> view, int offset) => view.AsAligned(16).Cast<Float4>()[offset >> 2];

    /// <summary>
    /// The <paramref name="index"/>-th 16-byte vector of <paramref name="view"/>. Inner loops pass a
    /// running 64-bit vector index plus compile-time steps, which leaves one add per load in the PTX
    /// (a 32-bit float offset shifted right, as <see cref="Load"/> takes, left six integer
    /// instructions per load there). On the H100 the v4 forward ran at the same speed either way
    /// (docs/PERFORMANCE.md), so the loads' latency, not their address arithmetic, is what it waits on.
    /// </summary>
    public static Float4 At(ArrayView<float> view, long index) => view.AsAligned(16).Cast<Float4>()[index];

    /// <summary>Writes view[offset .. offset + 3]; offset must be a multiple of 4.</summary>
    public static void Store(ArrayView<float> view, int offset, Float4 value) => view.AsAligned(16).Cast<Float4>()[offset >> 2] = value;

    /// <summary>a * s.</summary>
    public static Float4 Scale(Float4 a, float s) => new() { X = a.X * s, Y = a.Y * s, Z = a.Z * s, W = a.W * s };

    /// <summary>acc + s * v.</summary>
    public static Float4 MultiplyAdd(Float4 acc, float s, Float4 v) =>
        new() { X = acc.X + s * v.X, Y = acc.Y + s * v.Y, Z = acc.Z + s * v.Z, W = acc.W + s * v.W };

    /// <summary>a + b.</summary>
    public static Float4 Add(Float4 a, Float4 b) => new() { X = a.X + b.X, Y = a.Y + b.Y, Z = a.Z + b.Z, W = a.W + b.W };

    /// <summary>acc + the dot product of a and b, as a chain of four multiply-adds (Dot then an add is five instructions).</summary>
    public static float DotAdd(float acc, Float4 a, Float4 b) => acc + a.X * b.X + a.Y * b.Y + a.Z * b.Z + a.W * b.W;

    /// <summary>The dot product of a and b.</summary>
    public static float Dot(Float4 a, Float4 b) => a.X * b.X + a.Y * b.Y + a.Z * b.Z + a.W * b.W;
}
