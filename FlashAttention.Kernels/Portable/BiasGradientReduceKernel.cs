namespace FlashAttention.Kernels.Portable;

/// <summary>The shape of one dBias reduction: a full [batch, heads, seqlen_q, seqlen_k] gradient summed over the broadcast dims.</summary>
public struct BiasReduceShape
{
    /// <summary>Batch and heads of the full gradient.</summary>
    public int Batch, Heads;

    /// <summary>1 where the bias broadcasts over batch (its batch size is 1) and the gradient sums over it.</summary>
    public int SumBatch;

    /// <summary>1 where the bias broadcasts over heads.</summary>
    public int SumHeads;

    /// <summary>seqlen_q * seqlen_k: elements of one (batch, head) plane.</summary>
    public long Plane;

    /// <summary>Elements of the reduced gradient.</summary>
    public long Total;

    /// <summary>Threads of the launch: each walks the output with this stride (outputs can pass 2^31).</summary>
    public long Stride;
}

/// <summary>
/// dBias for a broadcast bias: the dQ pass writes a full-size gradient (each element by exactly one
/// group, no atomics), then this sums it over the broadcast batch and/or head dims, each output by
/// one thread in a fixed order, so the result stays bitwise reproducible.
/// </summary>
public static class BiasGradientReduceKernel
{
    /// <summary>An implicitly grouped kernel over <see cref="BiasReduceShape.Stride"/> threads.</summary>
    public static void Run(Index1D index, ArrayView<float> full, ArrayView<float> reduced, BiasReduceShape s)
    {
        int outHeads = s.SumHeads != 0 ? 1 : s.Heads;
        // The same number of steps for every thread, the last one guarded: ILGPU marks the loop's exit
        // branch bra.uni, and a trip count that differs inside a warp broke such a loop on the H100
        // (see MaskBitsKernel).
        long steps = (s.Total + s.Stride - 1) / s.Stride;
        for (long step = 0; step < steps; step++)
        {
            long o = index + step * s.Stride;
            if (o < s.Total)
                reduced[o] = Sum(full, s, o, outHeads);
        }
    }

    /// <summary>Output <paramref name="o"/>: its (batch, head) planes of the full gradient summed in a fixed order.</summary>
    private static float Sum(ArrayView<float> full, in BiasReduceShape s, long o, int outHeads)
    {
        long plane = o / s.Plane;
        long ij = o - plane * s.Plane;
        int bo = (int)(plane / outHeads);
        int ho = (int)(plane - (long)bo * outHeads);
        int b0 = s.SumBatch != 0 ? 0 : bo, b1 = s.SumBatch != 0 ? s.Batch : bo + 1;
        int h0 = s.SumHeads != 0 ? 0 : ho, h1 = s.SumHeads != 0 ? s.Heads : ho + 1;
        float sum = 0f;
        for (int b = b0; b < b1; b++)
            for (int h = h0; h < h1; h++)
                sum += full[((long)b * s.Heads + h) * s.Plane + ij];
        return sum;
    }
}
