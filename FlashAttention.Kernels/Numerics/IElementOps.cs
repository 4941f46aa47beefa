using ILGPU;
using ILGPU.Runtime;

namespace FlashAttention.Kernels.Numerics;

/// <summary>
/// Converts a storage element type to and from float32, the type every kernel accumulates in.
/// Implemented by empty structs so ILGPU resolves the calls statically and inlines them.
/// </summary>
public interface IElementOps<T> where T : unmanaged
{
    /// <summary>Widens a stored element to float32.</summary>
    float ToFloat(T value);

    /// <summary>Narrows a float32 result to the storage type (round to nearest even).</summary>
    T FromFloat(float value);
}

/// <summary>float32 storage.</summary>
public readonly struct Float32Ops : IElementOps<float>
{
    /// <inheritdoc />
    public float ToFloat(float value) => value;

    /// <inheritdoc />
    public float FromFloat(float value) => value;
}

/// <summary>IEEE float16 storage (ILGPU's <see cref="Half"/>, which lowers to PTX cvt instructions).</summary>
public readonly struct Float16Ops : IElementOps<Half>
{
    /// <inheritdoc />
    public float ToFloat(Half value) => (float)value;

    /// <inheritdoc />
    public Half FromFloat(float value) => (Half)value;
}

/// <summary>bfloat16 storage, converted with integer bit operations so it runs on every backend.</summary>
public readonly struct BFloat16Ops : IElementOps<BFloat16>
{
    /// <inheritdoc />
    public float ToFloat(BFloat16 value) => Interop.IntAsFloat((uint)value.Bits << 16);

    /// <inheritdoc />
    public BFloat16 FromFloat(float value) => BFloat16.FromBits(BFloat16.RoundToNearestEven(Interop.FloatAsInt(value)));
}
