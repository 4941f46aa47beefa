using ILGPU.Algorithms;

namespace FlashAttention.Kernels.Portable;

/// <summary>
/// One query row of a streaming-decode team, in one lane's registers: the lane's eight dims of q
/// (pre-multiplied by scale * log2 e) and of the running output acc, the row's running max m
/// (log2 domain) and sum l, and the last key the row may see in this split (<see cref="Limit"/>:
/// the split's end, the causal bound, or -1 for a padding row, so one compare masks a key).
/// </summary>
internal struct DecodeStreamRow
{
    /// <summary>This lane's dims of q, times scale * log2 e.</summary>
    public Float8 Q;

    /// <summary>This lane's dims of the unnormalised output.</summary>
    public Float8 Acc;

    /// <summary>The running max of the team's scores (-inf before any visible key).</summary>
    public float M;

    /// <summary>The running sum of exp2(s - m) of the team's keys.</summary>
    public float L;

    /// <summary>Keys above this are hidden from the row.</summary>
    public int Limit;

    /// <summary>Updates the row with one step's keys (<paramref name="keys"/> apart per unrolled key, the first at <paramref name="firstKey"/>).</summary>
    public void Step(in DecodeStreamStep step, int firstKey, int keys, int unroll, int lanesPerKey)
    {
        // Every lane of the team ends with the full dot products, so the softmax needs no more shuffles.
        float s0 = TeamSum(Float8.Dot(Q, step.K0), lanesPerKey);
        float s1 = TeamSum(Float8.Dot(Q, step.K1), lanesPerKey);
        float s2 = unroll > 2 ? TeamSum(Float8.Dot(Q, step.K2), lanesPerKey) : float.NegativeInfinity;
        float s3 = unroll > 2 ? TeamSum(Float8.Dot(Q, step.K3), lanesPerKey) : float.NegativeInfinity;
        s0 = firstKey <= Limit ? s0 : float.NegativeInfinity;
        s1 = firstKey + keys <= Limit ? s1 : float.NegativeInfinity;
        s2 = firstKey + 2 * keys <= Limit ? s2 : float.NegativeInfinity;
        s3 = firstKey + 3 * keys <= Limit ? s3 : float.NegativeInfinity;

        float mNew = XMath.Max(M, XMath.Max(XMath.Max(s0, s1), XMath.Max(s2, s3)));
        // While every key so far is hidden m stays -inf: exponentiate against 0 so p = 0 and alpha = 0, not NaN.
        float mSafe = mNew == float.NegativeInfinity ? 0f : mNew;
        float alpha = XMath.Exp2(M - mSafe);
        float p0 = XMath.Exp2(s0 - mSafe);
        float p1 = XMath.Exp2(s1 - mSafe);
        float p2 = XMath.Exp2(s2 - mSafe);
        float p3 = XMath.Exp2(s3 - mSafe);
        L = L * alpha + ((p0 + p1) + (p2 + p3));
        var acc = Float8.Scale(Acc, alpha);
        acc = Float8.MultiplyAdd(acc, p0, step.V0);
        acc = Float8.MultiplyAdd(acc, p1, step.V1);
        if (unroll > 2)
        {
            acc = Float8.MultiplyAdd(acc, p2, step.V2);
            acc = Float8.MultiplyAdd(acc, p3, step.V3);
        }
        Acc = acc;
        M = mNew;
    }

    /// <summary>The sum over the <paramref name="lanesPerKey"/> lanes that share a key row (xor shuffles stay inside the team).</summary>
    private static float TeamSum(float x, int lanesPerKey)
    {
        if (lanesPerKey > 16)
            x += Warp.ShuffleXor(x, 16);
        if (lanesPerKey > 8)
            x += Warp.ShuffleXor(x, 8);
        if (lanesPerKey > 4)
            x += Warp.ShuffleXor(x, 4);
        x += Warp.ShuffleXor(x, 2);
        return x + Warp.ShuffleXor(x, 1);
    }
}
