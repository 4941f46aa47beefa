namespace FlashAttention.Tests;

public sealed class BFloat16Tests
{
    // Each expected value worked out by hand from the float32 bits: keep the top 16 bits, then
    // look at the 16 dropped bits: above 0x8000 rounds up, below rounds down, exactly 0x8000 (a
    // tie) rounds to the even neighbour, i.e. up only when the kept lowest bit is 1.
    [Theory]
    [InlineData(0x3F80_0000u, 0x3F80, "1.0 is exact")]
    [InlineData(0xC000_0000u, 0xC000, "-2.0 is exact")]
    [InlineData(0x3F80_8000u, 0x3F80, "tie, kept lsb 0: down")]
    [InlineData(0x3F81_8000u, 0x3F82, "tie, kept lsb 1: up")]
    [InlineData(0x3F80_8001u, 0x3F81, "just above the tie: up")]
    [InlineData(0x3F80_7FFFu, 0x3F80, "just below the tie: down")]
    [InlineData(0xBF81_8000u, 0xBF82, "negative tie, kept lsb 1: away from zero")]
    [InlineData(0x3FFF_8000u, 0x4000, "carry out of the mantissa bumps the exponent (1.99.. -> 2)")]
    [InlineData(0x7F7F_FFFFu, 0x7F80, "max finite float rounds to +inf")]
    [InlineData(0xFF7F_FFFFu, 0xFF80, "-max finite float rounds to -inf")]
    [InlineData(0x7F7F_7FFFu, 0x7F7F, "below the tie under max bf16 stays finite")]
    [InlineData(0x7F7F_8000u, 0x7F80, "tie above max bf16 (odd lsb) rounds to inf")]
    [InlineData(0x7F80_0000u, 0x7F80, "+inf")]
    [InlineData(0xFF80_0000u, 0xFF80, "-inf")]
    [InlineData(0x0000_0000u, 0x0000, "+0")]
    [InlineData(0x8000_0000u, 0x8000, "-0 keeps its sign")]
    [InlineData(0x0000_0001u, 0x0000, "smallest subnormal rounds to +0")]
    [InlineData(0x8000_0001u, 0x8000, "smallest negative subnormal rounds to -0")]
    [InlineData(0x0001_0000u, 0x0001, "smallest bf16 subnormal is exact")]
    [InlineData(0x0000_8000u, 0x0000, "subnormal tie, kept lsb 0: down to 0")]
    [InlineData(0x0001_8000u, 0x0002, "subnormal tie, kept lsb 1: up")]
    [InlineData(0x8000_8001u, 0x8001, "negative subnormal above the tie")]
    [InlineData(0x007F_FFFFu, 0x0080, "largest subnormal rounds up to the smallest normal")]
    public void FromSingleRoundsToNearestEven(uint floatBits, int expected, string why)
    {
        var value = BFloat16.FromSingle(BitConverter.UInt32BitsToSingle(floatBits));
        value.Bits.Should().Be((ushort)expected, why);
        BFloat16.RoundToNearestEven(floatBits).Should().Be((ushort)expected, why);
        ((BFloat16)BitConverter.UInt32BitsToSingle(floatBits)).Bits.Should().Be((ushort)expected, "the explicit cast rounds the same way");
    }

    [Theory]
    [InlineData(0x7FC0_0000u, 0x7FC0)]
    [InlineData(0xFFC0_0000u, 0xFFC0)]
    [InlineData(0x7F80_0001u, 0x7FC0)] // payload only in dropped bits: truncating would give +inf
    [InlineData(0xFF80_0001u, 0xFFC0)]
    [InlineData(0x7FBF_FFFFu, 0x7FFF)]
    [InlineData(0x7FFF_FFFFu, 0x7FFF)] // adding the rounding bias would carry into the sign bit and give -0
    public void NaNStaysAQuietNaNWithItsSign(uint floatBits, int expected)
    {
        var value = BFloat16.FromSingle(BitConverter.UInt32BitsToSingle(floatBits));
        value.IsNaN.Should().BeTrue();
        float.IsNaN(value.ToSingle()).Should().BeTrue();
        value.Bits.Should().Be((ushort)expected);
        (value.Bits & 0x8000).Should().Be((int)(floatBits >> 16) & 0x8000, "the sign is kept");
    }

    [Fact]
    public void EveryNonNaNPatternSurvivesWideningAndRounding()
    {
        int nans = 0;
        var failures = new List<string>();
        for (int bits = 0; bits <= ushort.MaxValue; bits++)
        {
            var x = BFloat16.FromBits((ushort)bits);
            float wide = x.ToSingle();
            if (BitConverter.SingleToUInt32Bits(wide) != (uint)bits << 16)
                failures.Add($"0x{bits:X4} widens to 0x{BitConverter.SingleToUInt32Bits(wide):X8}");
            var back = BFloat16.FromSingle(wide);
            if (x.IsNaN)
            {
                nans++;
                if (!back.IsNaN)
                    failures.Add($"NaN 0x{bits:X4} came back as 0x{back.Bits:X4}");
            }
            else if (back.Bits != x.Bits)
            {
                failures.Add($"0x{bits:X4} came back as 0x{back.Bits:X4}");
            }
        }
        failures.Should().BeEmpty();
        nans.Should().Be(2 * 127, "exponent all ones with a non-zero 7-bit mantissa, both signs");
    }

    [Fact]
    public void EqualityFollowsFloatSemantics()
    {
        var nan = BFloat16.FromBits(0x7FC0);
        var sameNan = BFloat16.FromBits(0x7FC0);
        (nan == sameNan).Should().BeFalse();
        nan.Equals(nan).Should().BeFalse();
        (BFloat16.FromBits(0x0000) == BFloat16.FromBits(0x8000)).Should().BeTrue("+0 equals -0");
        (BFloat16.FromSingle(1f) != BFloat16.FromSingle(2f)).Should().BeTrue();
        BFloat16.FromSingle(1f).CompareTo(BFloat16.FromSingle(2f)).Should().BeNegative();
        ((float)BFloat16.FromBits(0x3F80)).Should().Be(1f);
    }
}
