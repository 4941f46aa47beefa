using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace FlashAttention;

/// <summary>
/// The bfloat16 format: the upper 16 bits of an IEEE 754 float32 (1 sign, 8 exponent, 7 mantissa bits).
/// Conversion from <see cref="float"/> rounds to nearest, ties to even, and keeps NaN a (quiet) NaN.
/// The struct is blittable, so arrays of it upload to a device as they are.
/// </summary>
[StructLayout(LayoutKind.Sequential, Size = 2)]
public readonly struct BFloat16 : IEquatable<BFloat16>, IComparable<BFloat16>, IFormattable
{
    /// <summary>The raw 16 bits.</summary>
    public readonly ushort Bits;

    private BFloat16(ushort bits) => Bits = bits;

    /// <summary>Makes a value from its raw 16 bits (e.g. read from a file that stores bfloat16 as uint16).</summary>
    public static BFloat16 FromBits(ushort bits) => new(bits);

    /// <summary>Rounds a float32 to the nearest bfloat16 (ties to even); NaN stays NaN, infinities stay infinite.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static BFloat16 FromSingle(float value)
        => new(RoundToNearestEven(BitConverter.SingleToUInt32Bits(value)));

    /// <summary>
    /// The bfloat16 bits nearest to a float32 given by its bits. Integer operations only, so kernels
    /// on every backend share this exact rounding.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort RoundToNearestEven(uint floatBits)
    {
        if ((floatBits & 0x7FFF_FFFFu) > 0x7F80_0000u)
            return (ushort)((floatBits >> 16) | 0x0040u); // quiet NaN, sign kept
        // Adding 0x7FFF plus the lowest kept bit rounds half-way cases towards the even neighbour;
        // a carry out of the mantissa correctly bumps the exponent (up to infinity).
        uint lsb = (floatBits >> 16) & 1u;
        return (ushort)((floatBits + 0x7FFFu + lsb) >> 16);
    }

    /// <summary>The exact float32 value of this bfloat16.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float ToSingle() => BitConverter.UInt32BitsToSingle((uint)Bits << 16);

    /// <summary>Rounds to nearest even.</summary>
    public static explicit operator BFloat16(float value) => FromSingle(value);

    /// <summary>Exact widening.</summary>
    public static implicit operator float(BFloat16 value) => value.ToSingle();

    /// <summary>Whether the value is NaN.</summary>
    public bool IsNaN => (Bits & 0x7FFF) > 0x7F80;

    /// <inheritdoc />
    public bool Equals(BFloat16 other) => IsNaN ? false : ToSingle() == other.ToSingle();

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is BFloat16 other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode() => ToSingle().GetHashCode();

    /// <inheritdoc />
    public int CompareTo(BFloat16 other) => ToSingle().CompareTo(other.ToSingle());

    /// <summary>Value equality (NaN is unequal to everything, +0 equals -0).</summary>
    public static bool operator ==(BFloat16 a, BFloat16 b) => a.Equals(b);

    /// <summary>Value inequality.</summary>
    public static bool operator !=(BFloat16 a, BFloat16 b) => !a.Equals(b);

    /// <inheritdoc />
    public override string ToString() => ToSingle().ToString(CultureInfo.InvariantCulture);

    /// <inheritdoc />
    public string ToString(string? format, IFormatProvider? formatProvider) => ToSingle().ToString(format, formatProvider);
}
