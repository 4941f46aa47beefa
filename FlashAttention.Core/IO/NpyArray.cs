using System.Runtime.InteropServices;

namespace FlashAttention.IO;

/// <summary>
/// An array read from a .npy file: its element type, its C-order shape and its little-endian
/// bytes. Typed getters copy the elements out and check that the type is the one asked for.
/// </summary>
public sealed class NpyArray
{
    private readonly byte[] data;
    private readonly int[] shape;

    internal NpyArray(NpyDType dtype, int[] shape, byte[] data)
    {
        DType = dtype;
        this.shape = shape;
        this.data = data;
        Count = data.LongLength / dtype.ItemSize();
    }

    /// <summary>The element type.</summary>
    public NpyDType DType { get; }

    /// <summary>The NumPy descr of the element type, e.g. '&lt;f4'.</summary>
    public string Descr => DType.Descr();

    /// <summary>The dimensions, outermost first; empty for a 0-d (scalar) array.</summary>
    public IReadOnlyList<int> Shape => shape;

    /// <summary>Number of dimensions.</summary>
    public int Rank => shape.Length;

    /// <summary>Number of elements: the product of <see cref="Shape"/> (1 for a scalar).</summary>
    public long Count { get; }

    /// <summary>The shape as text, e.g. [2, 128, 8, 64].</summary>
    public string ShapeText => $"[{string.Join(", ", shape)}]";

    /// <summary>The elements of a float32 array.</summary>
    public float[] AsSingle() => Elements<float>(NpyDType.Float32);

    /// <summary>The elements of a float64 array.</summary>
    public double[] AsDouble() => Elements<double>(NpyDType.Float64);

    /// <summary>The elements of a float16 array, bit for bit.</summary>
    public Half[] AsHalf() => Elements<Half>(NpyDType.Float16);

    /// <summary>The elements of a uint16 array.</summary>
    public ushort[] AsUInt16() => Elements<ushort>(NpyDType.UInt16);

    /// <summary>The elements of a uint16 array taken as bfloat16 bits (NumPy has no bfloat16 type).</summary>
    public BFloat16[] AsBFloat16() => Elements<BFloat16>(NpyDType.UInt16);

    /// <summary>The elements of an int32 array.</summary>
    public int[] AsInt32() => Elements<int>(NpyDType.Int32);

    /// <summary>The elements of a bool array; any non-zero byte is true.</summary>
    public bool[] AsBool()
    {
        Require(NpyDType.Bool);
        // Not a reinterpreting cast: a byte other than 0 or 1 must not become an odd bool.
        var result = new bool[data.Length];
        for (int i = 0; i < data.Length; i++)
            result[i] = data[i] != 0;
        return result;
    }

    private T[] Elements<T>(NpyDType expected) where T : unmanaged
    {
        Require(expected);
        return MemoryMarshal.Cast<byte, T>(data).ToArray();
    }

    private void Require(NpyDType expected)
    {
        if (DType != expected)
            throw new InvalidOperationException(
                $"the array holds {DType.Name()} ('{Descr}'), not {expected.Name()} ('{expected.Descr()}')");
    }
}
