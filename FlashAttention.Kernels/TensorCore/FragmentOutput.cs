using FlashAttention.Kernels.Portable;

namespace FlashAttention.Kernels.TensorCore;

/// <summary>
/// Writes a warp's normalised O accumulator fragments (rows g and g + 8 of its 16) to the output:
/// each lane's two adjacent columns narrowed together and, when rows are 16-byte aligned, stored as
/// one 32-bit word. Rows past seqlen_q and dims past the head dim are not written.
/// </summary>
internal readonly struct FragmentOutput<TTarget, TElement>
    where TTarget : struct, ITensorCoreTarget
    where TElement : struct, IMmaElement
{
    private readonly StridedTensor<ushort> o;
    private readonly int seqLenQ, headDim, batch, head, rowLow;
    private readonly float invLow, invHigh;
    private readonly bool aligned;

    /// <summary>The output of this lane's rows <paramref name="rowLow"/> and + 8, scaled by 1 / l.</summary>
    public FragmentOutput(in ForwardParams<ushort> p, int batch, int head, int rowLow, float invLow, float invHigh, bool aligned)
    {
        o = p.O;
        seqLenQ = p.SeqLenQ;
        headDim = p.HeadDim;
        this.batch = batch;
        this.head = head;
        this.rowLow = rowLow;
        this.invLow = invLow;
        this.invHigh = invHigh;
        this.aligned = aligned;
    }

    /// <summary>Writes the 64-dim block that starts at <paramref name="d0"/> (up to <paramref name="dim"/>).</summary>
    public void Write(in Tile8 t, int d0, int dim)
    {
        int d = d0 + 2 * (Warp.LaneIdx & 3);
        int columns = Math.Min(64, dim - d0);
        Fragment(t.N0, d);
        Fragment(t.N1, d + 8);
        if (columns > 16)
        {
            Fragment(t.N2, d + 16);
            Fragment(t.N3, d + 24);
        }
        if (columns > 32)
        {
            Fragment(t.N4, d + 32);
            Fragment(t.N5, d + 40);
        }
        if (columns > 48)
        {
            Fragment(t.N6, d + 48);
            Fragment(t.N7, d + 56);
        }
    }

    private void Fragment(in FragmentC c, int d)
    {
        Pair(rowLow, d, c.C0 * invLow, c.C1 * invLow);
        Pair(rowLow + 8, d, c.C2 * invHigh, c.C3 * invHigh);
    }

    private void Pair(int row, int d, float first, float second)
    {
        if (row >= seqLenQ || d >= headDim)
            return;
        uint packed = default(TElement).Pack<TTarget>(first, second);
        long offset = o.RowOffset(batch, row, head) + d;
        if (aligned)
        {
            // Aligned rows have a head dim that is a multiple of 8: d + 1 is inside too.
            o.Data.Cast<uint>()[offset >> 1] = packed;
            return;
        }
        o.Data[offset] = (ushort)packed;
        if (d + 1 < headDim)
            o.Data[offset + 1] = (ushort)(packed >> 16);
    }
}
