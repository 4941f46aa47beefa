using ILGPU.Algorithms;

namespace FlashAttention.Kernels.Portable;

/// <summary>
/// The end of a streaming-decode group: every team ran its own online softmax over its share of the
/// keys, so each row has one (m, l, acc) per team. In shared memory: the teams' maxima, then each
/// team's acc and l rescaled by exp2(m_team - m_row), laid out [team][row][dim] as the key slices of
/// <see cref="DecodeOutput"/>, which sums them and divides by the row's l.
/// </summary>
internal readonly struct DecodeTeamMerge
{
    private readonly ArrayView<float> teamM;
    private readonly ArrayView<float> teamL;
    private readonly int teams, rows, dim, team, slot;

    /// <summary>Carves the group's shared floats (<see cref="DecodeStreamKernel.SharedFloats"/>) for <paramref name="teams"/> teams.</summary>
    public DecodeTeamMerge(ArrayView<float> shared, int teams, int rows, int dim, int team, int slot)
    {
        this.teams = teams;
        this.rows = rows;
        this.dim = dim;
        this.team = team;
        this.slot = slot;
        long outputs = (long)teams * rows * dim;
        Outputs = shared.SubView(0, outputs);
        teamM = shared.SubView(outputs, teams * rows);
        teamL = shared.SubView(outputs + teams * rows, teams * rows);
        M = shared.SubView(outputs + 2 * teams * rows, rows);
        L = shared.SubView(outputs + 2 * teams * rows + rows, rows);
    }

    /// <summary>Each team's output rows rescaled to the row max, [team][row][dim].</summary>
    public ArrayView<float> Outputs { get; }

    /// <summary>The row max over teams (log2 domain), after <see cref="PublishScaled"/>.</summary>
    public ArrayView<float> M { get; }

    /// <summary>The row sum over teams, after <see cref="SumRows"/>.</summary>
    public ArrayView<float> L { get; }

    /// <summary>Step 1: the team's max of row <paramref name="r"/> (every lane of a team holds the same).</summary>
    public void PublishMax(in DecodeStreamRow row, int r)
    {
        if (slot == 0)
            teamM[team * rows + r] = row.M;
    }

    /// <summary>Step 2 (after a barrier): the row max; this lane's acc and the team's l scaled to it.</summary>
    public void PublishScaled(in DecodeStreamRow row, int r)
    {
        float max = float.NegativeInfinity;
        for (int t = 0; t < teams; t++)
            max = XMath.Max(max, teamM[t * rows + r]);
        // A team that saw no key of the row (m = -inf) adds nothing, also when no team did.
        float f = row.M == float.NegativeInfinity ? 0f : XMath.Exp2(row.M - max);
        int at = (team * rows + r) * dim + slot * 8;
        Float4.Store(Outputs, at, Float4.Scale(row.Acc.Lo, f));
        Float4.Store(Outputs, at + 4, Float4.Scale(row.Acc.Hi, f));
        if (slot != 0)
            return;
        teamL[team * rows + r] = row.L * f;
        if (team == 0)
            M[r] = max;
    }

    /// <summary>Step 3 (after a barrier, threads 0 .. rows - 1): l of each row, summed over teams.</summary>
    public void SumRows()
    {
        int r = Group.IdxX;
        if (r >= rows)
            return;
        float sum = 0f;
        for (int t = 0; t < teams; t++)
            sum += teamL[t * rows + r];
        L[r] = sum;
    }
}
