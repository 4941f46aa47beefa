using System.Runtime.InteropServices;
using FlashAttention.Kernels.Numerics;

namespace FlashAttention.Kernels.Portable;

/// <summary>Sixteen bytes of a tensor read as one access (ld.global.v4 on CUDA): 8 half-precision or 4 single-precision elements.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct Raw16
{
    /// <summary>Bytes 0-3.</summary>
    public uint X;

    /// <summary>Bytes 4-7.</summary>
    public uint Y;

    /// <summary>Bytes 8-11.</summary>
    public uint Z;

    /// <summary>Bytes 12-15.</summary>
    public uint W;
}

/// <summary>
/// Widens the elements of one 16-byte vector to float32 in shared memory. Decoding reads every key
/// and value once and does little arithmetic on it, so its speed is how many bytes are in flight:
/// one 16-byte load moves 4-8 elements where an element load moves one.
/// </summary>
public interface IVectorElements<T> where T : unmanaged
{
    /// <summary>Elements in one 16-byte vector (4 or 8).</summary>
    int PerVector { get; }

    /// <summary>Writes the vector's elements as floats to dst[offset ..]; offset is a multiple of 4.</summary>
    void Unpack(Raw16 raw, ArrayView<float> dst, int offset);

    /// <summary>The vector's elements as floats in registers (four-element types fill only <see cref="Float8.Lo"/>).</summary>
    Float8 Widen(Raw16 raw);
}

/// <summary>float32: four per vector.</summary>
public readonly struct Float32Vector : IVectorElements<float>
{
    /// <inheritdoc />
    public int PerVector => 4;

    /// <inheritdoc />
    public void Unpack(Raw16 raw, ArrayView<float> dst, int offset) =>
        Float4.Store(dst, offset, new Float4
        {
            X = Interop.IntAsFloat(raw.X), Y = Interop.IntAsFloat(raw.Y), Z = Interop.IntAsFloat(raw.Z), W = Interop.IntAsFloat(raw.W),
        });

    /// <inheritdoc />
    public Float8 Widen(Raw16 raw) => new()
    {
        Lo = new Float4 { X = Interop.IntAsFloat(raw.X), Y = Interop.IntAsFloat(raw.Y), Z = Interop.IntAsFloat(raw.Z), W = Interop.IntAsFloat(raw.W) },
    };
}

/// <summary>IEEE float16 (ILGPU's Half, converted by the device): eight per vector, low half of each word first.</summary>
public readonly struct Float16Vector : IVectorElements<Half>
{
    /// <inheritdoc />
    public int PerVector => 8;

    /// <inheritdoc />
    public void Unpack(Raw16 raw, ArrayView<float> dst, int offset)
    {
        Float4.Store(dst, offset, new Float4 { X = Lo(raw.X), Y = Hi(raw.X), Z = Lo(raw.Y), W = Hi(raw.Y) });
        Float4.Store(dst, offset + 4, new Float4 { X = Lo(raw.Z), Y = Hi(raw.Z), Z = Lo(raw.W), W = Hi(raw.W) });
    }

    /// <inheritdoc />
    public Float8 Widen(Raw16 raw) => new()
    {
        Lo = new Float4 { X = Lo(raw.X), Y = Hi(raw.X), Z = Lo(raw.Y), W = Hi(raw.Y) },
        Hi = new Float4 { X = Lo(raw.Z), Y = Hi(raw.Z), Z = Lo(raw.W), W = Hi(raw.W) },
    };

    private static float Lo(uint word) => (float)Interop.IntAsFloat((ushort)(word & 0xFFFFu));

    private static float Hi(uint word) => (float)Interop.IntAsFloat((ushort)(word >> 16));
}

/// <summary>float16 as raw bits with software conversion (OpenCL devices without cl_khr_fp16).</summary>
public readonly struct Float16BitsVector : IVectorElements<ushort>
{
    /// <inheritdoc />
    public int PerVector => 8;

    /// <inheritdoc />
    public void Unpack(Raw16 raw, ArrayView<float> dst, int offset)
    {
        Float4.Store(dst, offset, new Float4 { X = Lo(raw.X), Y = Hi(raw.X), Z = Lo(raw.Y), W = Hi(raw.Y) });
        Float4.Store(dst, offset + 4, new Float4 { X = Lo(raw.Z), Y = Hi(raw.Z), Z = Lo(raw.W), W = Hi(raw.W) });
    }

    /// <inheritdoc />
    public Float8 Widen(Raw16 raw) => new()
    {
        Lo = new Float4 { X = Lo(raw.X), Y = Hi(raw.X), Z = Lo(raw.Y), W = Hi(raw.Y) },
        Hi = new Float4 { X = Lo(raw.Z), Y = Hi(raw.Z), Z = Lo(raw.W), W = Hi(raw.W) },
    };

    private static float Lo(uint word) => default(Float16BitsOps).ToFloat((ushort)(word & 0xFFFFu));

    private static float Hi(uint word) => default(Float16BitsOps).ToFloat((ushort)(word >> 16));
}

/// <summary>bfloat16: eight per vector; widening is a 16-bit shift.</summary>
public readonly struct BFloat16Vector : IVectorElements<BFloat16>
{
    /// <inheritdoc />
    public int PerVector => 8;

    /// <inheritdoc />
    public void Unpack(Raw16 raw, ArrayView<float> dst, int offset)
    {
        Float4.Store(dst, offset, new Float4 { X = Lo(raw.X), Y = Hi(raw.X), Z = Lo(raw.Y), W = Hi(raw.Y) });
        Float4.Store(dst, offset + 4, new Float4 { X = Lo(raw.Z), Y = Hi(raw.Z), Z = Lo(raw.W), W = Hi(raw.W) });
    }

    /// <inheritdoc />
    public Float8 Widen(Raw16 raw) => new()
    {
        Lo = new Float4 { X = Lo(raw.X), Y = Hi(raw.X), Z = Lo(raw.Y), W = Hi(raw.Y) },
        Hi = new Float4 { X = Lo(raw.Z), Y = Hi(raw.Z), Z = Lo(raw.W), W = Hi(raw.W) },
    };

    private static float Lo(uint word) => Interop.IntAsFloat(word << 16);

    private static float Hi(uint word) => Interop.IntAsFloat(word & 0xFFFF_0000u);
}
