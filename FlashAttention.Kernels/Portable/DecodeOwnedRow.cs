using FlashAttention.Kernels.Numerics;
using ILGPU.Algorithms;

namespace FlashAttention.Kernels.Portable;

/// <summary>
/// The online-softmax state (m, l) of the one query row a lane runs the softmax of in the transposed
/// step (<see cref="DecodeTransposedScores{TTarget}"/>), over two keys a step: the lane's own key and its pair
/// lane's. The row's four lanes hold the same m and l; every lane of the team keeps acc for all its rows.
/// </summary>
internal struct DecodeOwnedRow
{
    /// <summary>The row's running max (log2 domain; -inf before any visible key).</summary>
    public float M;

    /// <summary>The row's running sum of exp2(s - m).</summary>
    public float L;

    /// <summary>
    /// The last step (its first key) that shows this lane's own key: the row's <see cref="DecodeStreamRow.Limit"/>
    /// less the key's offset in the step, so one compare masks it.
    /// </summary>
    public int Limit;

    /// <summary>The lane's own score of the step starting at <paramref name="firstKey"/>, or -inf where its key is hidden.</summary>
    public readonly float Visible(float s, int firstKey) => firstKey <= Limit ? s : float.NegativeInfinity;

    /// <summary>
    /// m and l updated with the step's two scores (hidden ones -inf); returns alpha = exp2(m_old - m_new), and
    /// p of the lane's own key. m moves only when the step's max passes it by more than <see cref="LazyRescale.Threshold"/>.
    /// </summary>
    public float Update(float sOwn, float sOther, out float pOwn)
    {
        float mNew = LazyRescale.Next(M, XMath.Max(sOwn, sOther));
        // While every key so far is hidden m stays -inf: exponentiate against 0 so p = 0 and alpha = 0, not NaN.
        float mSafe = mNew == float.NegativeInfinity ? 0f : mNew;
        float alpha = XMath.Exp2(M - mSafe);
        pOwn = XMath.Exp2(sOwn - mSafe);
        float pOther = XMath.Exp2(sOther - mSafe);
        L = L * alpha + (pOwn + pOther);
        M = mNew;
        return alpha;
    }
}
