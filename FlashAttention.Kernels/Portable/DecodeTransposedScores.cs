using FlashAttention.Kernels.TensorCore;

namespace FlashAttention.Kernels.Portable;

/// <summary>
/// The transposed step (<see cref="IDecodeStepScores"/>; experiment FLASH_DECODE_TRANSPOSE=1) for 16 lanes a key
/// row (head dim 128), 4 rows a lane and 2 keys a step: 8 (row, key) scores over 16 lanes. The butterfly step
/// sums each score to every lane (32 shuffles) and then every lane runs the softmax of all 4 rows (12 exp2),
/// the same work 16 times over, where the small decode shapes are bound by instruction issue. Here the sums are
/// reduce-scattered (<see cref="DecodeTeamTranspose"/>, 8 shuffles) so lane <c>slot</c> holds score
/// (row slot / 4, key (slot / 2) % 2); one xor shuffle gives it the row's other key, each lane runs the softmax
/// of its row only (<see cref="DecodeOwnedRow"/>: 3 exp2), and 12 index shuffles hand every row's p and alpha
/// back to the whole team, which then rescales and accumulates its 8 dims of acc as before.
/// m and l of a row live in its four lanes during the loop; <see cref="Finish"/> gives them to every lane.
/// TTarget: how a lane of the team is named to a shuffle (<see cref="FromLane"/>).
/// </summary>
internal struct DecodeTransposedScores<TTarget> : IDecodeStepScores
    where TTarget : struct, ITensorCoreTarget
{
    /// <summary>Lanes of a team: sub-warp shuffles of this width address the team's lanes 0 .. 15.</summary>
    private const int Lanes = 16;

    private DecodeOwnedRow own;

    /// <summary>This lane's (row, key) score of the current step, whole.</summary>
    private float score;

    /// <summary>This lane's index in its team.</summary>
    private int slot;

    /// <summary>The warp lane of the team's slot 0.</summary>
    private int teamBase;

    /// <inheritdoc/>
    public void Begin(in DecodeStreamRows rows, int slot, int keys)
    {
        this.slot = slot;
        teamBase = Warp.LaneIdx - slot;
        int row = RowOf(slot);
        int limit = row == 0 ? rows.R0.Limit : row == 1 ? rows.R1.Limit : row == 2 ? rows.R2.Limit : rows.R3.Limit;
        own = new DecodeOwnedRow { M = float.NegativeInfinity, L = 0f, Limit = limit - KeyOf(slot) * keys };
    }

    /// <inheritdoc/>
    public void Score<T, TVec>(ref DecodeStreamRows rows, in DecodeStreamStep keys, int unroll, int laneRows, int lanesPerKey)
        where T : unmanaged
        where TVec : struct, IVectorElements<T>
    {
        var k0 = default(TVec).Widen(keys.R0);
        var k1 = default(TVec).Widen(keys.R1);
        // Value 2 r + u: this lane's 8 dims of q_r · k_u.
        score = DecodeTeamTranspose.ReduceScatter(
            Float8.Dot(rows.R0.Q, k0), Float8.Dot(rows.R0.Q, k1), Float8.Dot(rows.R1.Q, k0), Float8.Dot(rows.R1.Q, k1),
            Float8.Dot(rows.R2.Q, k0), Float8.Dot(rows.R2.Q, k1), Float8.Dot(rows.R3.Q, k0), Float8.Dot(rows.R3.Q, k1), slot);
    }

    /// <inheritdoc/>
    public void Softmax(ref DecodeStreamRows rows, int firstKey, int keys, int unroll, int laneRows)
    {
        // Masked before the exchange, so the pair lane's score arrives masked by its own key's limit.
        float sOwn = own.Visible(score, firstKey);
        float sOther = Warp.ShuffleXor(sOwn, 2);
        float alpha = own.Update(sOwn, sOther, out float pOwn);
        float a0 = Receive(ref rows.R0, 0, pOwn, alpha);
        float a1 = Receive(ref rows.R1, 1, pOwn, alpha);
        float a2 = Receive(ref rows.R2, 2, pOwn, alpha);
        float a3 = Receive(ref rows.R3, 3, pOwn, alpha);
        // Warp-uniform: a per-lane test left ptxas predicating all 32 products of every step. With m moving only past the
        // threshold (Numerics.LazyRescale) every alpha of the warp is 1 on almost every step.
        if (!WarpVote.All<TTarget>(a0 == 1f & a1 == 1f & a2 == 1f & a3 == 1f))
        {
            rows.R0.Acc = Float8.Scale(rows.R0.Acc, a0);
            rows.R1.Acc = Float8.Scale(rows.R1.Acc, a1);
            rows.R2.Acc = Float8.Scale(rows.R2.Acc, a2);
            rows.R3.Acc = Float8.Scale(rows.R3.Acc, a3);
        }
    }

    /// <inheritdoc/>
    public void Finish(ref DecodeStreamRows rows)
    {
        Gather(ref rows.R0, 0);
        Gather(ref rows.R1, 1);
        Gather(ref rows.R2, 2);
        Gather(ref rows.R3, 3);
    }

    /// <summary>The row whose score lane <paramref name="slot"/> ends with (value slot / 2 = 2 r + u).</summary>
    private static int RowOf(int slot) => slot >> 2;

    /// <summary>The key of the step (0 or 1) whose score lane <paramref name="slot"/> ends with.</summary>
    private static int KeyOf(int slot) => (slot >> 1) & 1;

    /// <summary>
    /// Row <paramref name="r"/>'s p (key 0 from lane 4 r, key 1 from lane 4 r + 2) into this lane's copy of the row; returns the
    /// row's alpha, for the caller's rescale of acc.
    /// </summary>
    private readonly float Receive(ref DecodeStreamRow row, int r, float pOwn, float alpha)
    {
        row.S0 = FromLane(pOwn, 4 * r);
        row.S1 = FromLane(pOwn, 4 * r + 2);
        return FromLane(alpha, 4 * r);
    }

    /// <summary>Row <paramref name="r"/>'s m and l from its lanes into this lane's copy of the row.</summary>
    private readonly void Gather(ref DecodeStreamRow row, int r)
    {
        row.M = FromLane(own.M, 4 * r);
        row.L = FromLane(own.L, 4 * r);
    }

    /// <summary>
    /// <paramref name="x"/> of lane <paramref name="teamLane"/> of this lane's team. On CUDA a sub-warp shuffle names it
    /// relative to the team (shfl.idx with the team's segment mask: an immediate lane, nothing to compute); ILGPU 1.5.3's
    /// CPU emulation takes the segment from the source lane instead (offset = sourceLane / width * width), so there it
    /// is named absolutely (which CUDA would read the same way, at an add a shuffle).
    /// </summary>
    private readonly float FromLane(float x, int teamLane) =>
        default(TTarget).EmitsPtx ? Warp.Shuffle(x, teamLane, Lanes) : Warp.Shuffle(x, teamBase + teamLane, Lanes);
}
