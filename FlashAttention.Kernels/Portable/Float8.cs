namespace FlashAttention.Kernels.Portable;

/// <summary>
/// Eight floats in registers: one 16-byte vector of a half-precision row widened, the slice of a
/// key, value, query or output row that one lane of the streaming decode kernel owns.
/// </summary>
public struct Float8
{
    /// <summary>Elements 0-3.</summary>
    public Float4 Lo;

    /// <summary>Elements 4-7.</summary>
    public Float4 Hi;

    /// <summary>Σ a_i b_i, as one chain of a multiply and seven multiply-adds.</summary>
    public static float Dot(in Float8 a, in Float8 b) => Float4.DotAdd(Float4.Dot(a.Lo, b.Lo), a.Hi, b.Hi);

    /// <summary>a * s.</summary>
    public static Float8 Scale(in Float8 a, float s) => new() { Lo = Float4.Scale(a.Lo, s), Hi = Float4.Scale(a.Hi, s) };

    /// <summary>acc + s * v.</summary>
    public static Float8 MultiplyAdd(in Float8 acc, float s, in Float8 v) =>
        new() { Lo = Float4.MultiplyAdd(acc.Lo, s, v.Lo), Hi = Float4.MultiplyAdd(acc.Hi, s, v.Hi) };
}
