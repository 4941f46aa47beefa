using FlashAttention.Kernels.Numerics;

namespace FlashAttention.Kernels.Portable;

/// <summary>
/// The backward's preprocessing pass: D = rowsum(dO * O) per query row, the term that the
/// softmax gradient dS = P * (dP - D) subtracts. One thread per row; grid = (rows / threads, heads_q, batch).
/// </summary>
public static class RowDotKernel
{
    /// <summary>Writes <see cref="BackwardParams{T}.Delta"/>.</summary>
    public static void Run<T, TOps>(BackwardParams<T> p)
        where T : unmanaged
        where TOps : struct, IElementOps<T>
    {
        int i = Grid.IdxX * Group.DimX + Group.IdxX;
        int head = Grid.IdxY;
        int batch = Grid.IdxZ;
        if (p.Sequences.Enabled != 0)
        {
            var sequence = p.Sequences.Of(batch);
            if (i >= sequence.LengthQ)
                return;
            p = PackedSequences.ForSequence(p, sequence);
            batch = 0;
        }
        if (i >= p.SeqLenQ)
            return;
        long o = p.O.RowOffset(batch, i, head);
        long dO = p.DO.RowOffset(batch, i, head);
        float sum = 0f;
        for (int d = 0; d < p.HeadDim; d++)
            sum += default(TOps).ToFloat(p.O.Data[o + d]) * default(TOps).ToFloat(p.DO.Data[dO + d]);
        p.Delta[((long)batch * p.HeadsQ + head) * p.SeqLenQ + i] = sum;
    }
}
