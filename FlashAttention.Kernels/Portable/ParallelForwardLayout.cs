namespace FlashAttention.Kernels.Portable;

/// <summary>
/// Shared memory of <see cref="ParallelForwardKernel"/> (all float32; m and l live in registers):
/// Qt [d][Br + 4], the K/V space, Splits slices of Pt [Bc][Br + 4] (S = Q Kᵀ split over the head
/// dim, summed by the softmax), alpha [Br] (later 1/l) and one reduction slot per thread.
/// Every value is a compile-time constant in the kernel.
/// </summary>
public readonly struct ParallelForwardLayout
{
    /// <summary>Threads of a group: one per 4 x 8 output block.</summary>
    public readonly int Threads;

    /// <summary>Threads that share one query row in the softmax: head dim / 32.</summary>
    public readonly int ThreadsPerRow;

    /// <summary>Slices the head dim of S = Q Kᵀ is split into (1, 2, 4 or 8).</summary>
    public readonly int Splits;

    /// <summary>Q tile, transposed: [headdim][Br + Pad].</summary>
    public readonly int QtOffset;

    /// <summary>Row length of the transposed Q tile.</summary>
    public readonly int QtStride;

    /// <summary>K tile transposed [headdim][Bc + Pad], then (same space) the V tile [Bc][headdim].</summary>
    public readonly int KvOffset;

    /// <summary>Floats of the K/V space.</summary>
    public readonly int KvFloats;

    /// <summary>Row length of the transposed K tile.</summary>
    public readonly int KtStride;

    /// <summary>Scores (slice 0 ends up holding S, then P), transposed: [Splits][Bc][Br + Pad].</summary>
    public readonly int PtOffset;

    /// <summary>Row length of the transposed score tile.</summary>
    public readonly int PtStride;

    /// <summary>Floats of one score slice.</summary>
    public readonly int PtSliceFloats;

    /// <summary>Per-row rescale factor of the current tile, later 1/l, [Br].</summary>
    public readonly int AlphaOffset;

    /// <summary>One float per thread: partial row maxima, at the end partial row sums, [ThreadsPerRow][Br].</summary>
    public readonly int ReduceOffset;

    /// <summary>Total floats.</summary>
    public readonly int TotalFloats;

    /// <summary>Lays out the tiles of a kernel with the given compile-time shape.</summary>
    public ParallelForwardLayout(int headDim, int br, int bc)
    {
        const int pad = ForwardSharedLayout.Pad;
        Threads = br * headDim / 32;
        ThreadsPerRow = headDim / 32;
        Splits = SplitsFor(headDim, br, bc);
        QtStride = br + pad;
        KtStride = bc + pad;
        PtStride = br + pad;
        PtSliceFloats = bc * PtStride;
        QtOffset = 0;
        KvOffset = QtOffset + headDim * QtStride;
        KvFloats = Math.Max(headDim * KtStride, bc * headDim);
        PtOffset = KvOffset + KvFloats;
        AlphaOffset = PtOffset + Splits * PtSliceFloats;
        ReduceOffset = AlphaOffset + br;
        TotalFloats = ReduceOffset + Threads;
    }

    /// <summary>Total bytes.</summary>
    public int TotalBytes => TotalFloats * sizeof(float);

    /// <summary>
    /// How many threads share one 4 x 4 block of S (each summing a slice of the head dim): the
    /// largest of 1, 2, 4, 8 that leaves at least one thread per (block, slice). Written without
    /// loops so ILGPU folds it to a constant (static shared memory needs a constant size). Compiled
    /// head dims are multiples of 32, so every slice is a whole number of 4-dim steps.
    /// </summary>
    public static int SplitsFor(int headDim, int br, int bc)
    {
        int ratio = (br * headDim / 32) / (br / 4 * (bc / 4));
        return ratio >= 8 ? 8 : ratio >= 4 ? 4 : ratio >= 2 ? 2 : 1;
    }
}
