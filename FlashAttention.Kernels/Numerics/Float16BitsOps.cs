namespace FlashAttention.Kernels.Numerics;

/// <summary>
/// IEEE float16 stored as raw 16-bit integers and converted with integer operations, for OpenCL
/// devices without cl_khr_fp16 (on which ILGPU refuses the Half type). Exact in both directions:
/// widening is exact, narrowing rounds to nearest even, subnormals and NaN included.
/// </summary>
public readonly struct Float16BitsOps : IElementOps<ushort>
{
    /// <inheritdoc />
    public float ToFloat(ushort value)
    {
        uint sign = (uint)(value & 0x8000) << 16;
        int exponent = (value >> 10) & 0x1F;
        uint mantissa = (uint)value & 0x3FF;
        if (exponent == 0x1F) // infinity or NaN
            return Interop.IntAsFloat(sign | 0x7F80_0000u | (mantissa << 13));
        if (exponent != 0) // normal: rebias 15 -> 127
            return Interop.IntAsFloat(sign | ((uint)(exponent + 112) << 23) | (mantissa << 13));
        // zero or subnormal: mantissa * 2^-24, exact in float32
        float magnitude = (int)mantissa * 5.9604644775390625e-8f; // via int: uint-to-float goes through float64 in IL
        return sign != 0 ? -magnitude : magnitude;
    }

    /// <inheritdoc />
    public ushort FromFloat(float value)
    {
        uint bits = Interop.FloatAsInt(value);
        uint sign = (bits >> 16) & 0x8000u;
        uint abs = bits & 0x7FFF_FFFFu;
        if (abs > 0x7F80_0000u) // NaN: keep it quiet
            return (ushort)(sign | 0x7E00u | ((abs >> 13) & 0x3FFu));
        if (abs >= 0x4780_0000u) // >= 65536 (and infinity) rounds to infinity
            return (ushort)(sign | 0x7C00u);
        if (abs >= 0x3880_0000u) // normal in float16 (>= 2^-14)
        {
            // Rebias, then round the 13 dropped bits to nearest even; a carry into the exponent
            // is the correct result (up to infinity at 65520).
            uint rebased = abs - 0x3800_0000u;
            uint rounded = rebased + 0x0FFFu + ((rebased >> 13) & 1u);
            return (ushort)(sign | (rounded >> 13));
        }
        if (abs < 0x3300_0000u) // below half the smallest subnormal (2^-25): zero
            return (ushort)sign;
        // Subnormal: shift the full mantissa (implicit 1 restored) right, rounding to nearest even.
        uint exponent = abs >> 23;
        uint mantissa = (abs & 0x7F_FFFFu) | 0x80_0000u;
        int shift = (int)(126 - exponent); // 14..24 for exponents 102..112
        uint kept = mantissa >> shift;
        uint remainder = mantissa & ((1u << shift) - 1u);
        uint half = 1u << (shift - 1);
        if (remainder > half || (remainder == half && (kept & 1u) != 0))
            kept++;
        return (ushort)(sign | kept);
    }
}
