using FlashAttention.Kernels.Numerics;
using ILGPU.Algorithms;

namespace FlashAttention.Kernels.Portable;

/// <summary>
/// One query row of a streaming-decode team, in one lane's registers: the lane's eight dims of q
/// (pre-multiplied by scale * log2 e) and of the running output acc, the row's running max m
/// (log2 domain) and sum l, the current step's scores (then probabilities) S0..S3, and the last key
/// the row may see in this split (<see cref="Limit"/>: the split's end, the causal bound, or -1 for a
/// padding row, so one compare masks a key).
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

    /// <summary>Scores, then probabilities, of the step's keys.</summary>
    public float S0, S1, S2, S3;

    /// <summary>Keys above this are hidden from the row.</summary>
    public int Limit;

    /// <summary>S_u = q · k for the step's key <paramref name="u"/> (every lane of the team ends with the whole sum).</summary>
    public void Score(in Float8 k, int u, int lanesPerKey)
    {
        float s = TeamSum(Float8.Dot(Q, k), lanesPerKey);
        if (u == 0) S0 = s;
        else if (u == 1) S1 = s;
        else if (u == 2) S2 = s;
        else S3 = s;
    }

    /// <summary>
    /// The online softmax over the step's keys (firstKey + u * keys): hidden keys dropped, m (lazily:
    /// <see cref="LazyRescale"/>) and l updated, acc rescaled, S_u replaced by p_u.
    /// </summary>
    public void Softmax(int firstKey, int keys, int unroll)
    {
        // unroll is a compile-time constant: at 2 keys a step, keys 2 and 3 take no max, exponential or sum (the PTX had
        // computed exp2(-inf - m) for both, two MUFU and five more instructions a row and step).
        bool four = unroll > 2;
        float s0 = firstKey <= Limit ? S0 : float.NegativeInfinity;
        float s1 = firstKey + keys <= Limit ? S1 : float.NegativeInfinity;
        float s2 = four && firstKey + 2 * keys <= Limit ? S2 : float.NegativeInfinity;
        float s3 = four && firstKey + 3 * keys <= Limit ? S3 : float.NegativeInfinity;
        float stepMax = four ? XMath.Max(XMath.Max(s0, s1), XMath.Max(s2, s3)) : XMath.Max(s0, s1);
        float mNew = LazyRescale.Next(M, stepMax); // alpha is exactly 1 unless the step passes m by more than the threshold
        // While every key so far is hidden m stays -inf: exponentiate against 0 so p = 0 and alpha = 0, not NaN.
        float mSafe = mNew == float.NegativeInfinity ? 0f : mNew;
        float alpha = XMath.Exp2(M - mSafe);
        S0 = XMath.Exp2(s0 - mSafe);
        S1 = XMath.Exp2(s1 - mSafe);
        S2 = four ? XMath.Exp2(s2 - mSafe) : 0f;
        S3 = four ? XMath.Exp2(s3 - mSafe) : 0f;
        L = L * alpha + (four ? (S0 + S1) + (S2 + S3) : S0 + S1);
        // After the first steps m seldom moves: alpha is then exactly 1 and the rescale is skipped.
        if (alpha != 1f)
            Acc = Float8.Scale(Acc, alpha);
        M = mNew;
    }

    /// <summary>acc += p_u v for the step's key <paramref name="u"/>.</summary>
    public void Accumulate(in Float8 v, int u) =>
        Acc = Float8.MultiplyAdd(Acc, u == 0 ? S0 : u == 1 ? S1 : u == 2 ? S2 : S3, v);

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
