namespace FlashAttention.Kernels.Portable;

/// <summary>The views of one backward group's shared memory, as <see cref="BackwardSharedLayout"/> places them.</summary>
internal struct BackwardTiles
{
    public ArrayView<float> Q, DO, K, V, S, DS, Acc0, Acc1, LseLog2, Delta;

    /// <summary>Partitions <paramref name="smem"/> for the dK/dV kernel (<paramref name="keyValueKernel"/>) or the dQ kernel.</summary>
    public static BackwardTiles Of(ArrayView<float> smem, BackwardSharedLayout layout, int dim, int br, int bc, bool keyValueKernel) => new()
    {
        Q = smem.SubView(layout.QOffset, br * layout.RowStride),
        DO = smem.SubView(layout.DOOffset, br * layout.RowStride),
        K = smem.SubView(layout.KOffset, bc * layout.RowStride),
        V = smem.SubView(layout.VOffset, bc * layout.RowStride),
        S = smem.SubView(layout.POffset, br * layout.ScoreStride),
        DS = smem.SubView(layout.DSOffset, br * layout.ScoreStride),
        Acc0 = smem.SubView(layout.Acc0Offset, (keyValueKernel ? bc : br) * dim),
        Acc1 = smem.SubView(layout.Acc1Offset, keyValueKernel ? bc * dim : 0),
        LseLog2 = smem.SubView(layout.LseOffset, br),
        Delta = smem.SubView(layout.DeltaOffset, br),
    };

    /// <summary>
    /// One query tile against one key tile: recompute S and dP, then P and dS in place
    /// (barriers included; the caller has loaded Q, dO, K, V, LSE and D). Only the dQ pass sets
    /// <paramref name="storeBiasGradient"/>: dBias is written once, by the pass that owns whole rows.
    /// </summary>
    public readonly void Gradient(BackwardSharedLayout layout, AttentionMask mask, ScoreModifier scores, Dropout dropout, float scaleLog2,
        int firstRow, int firstCol, int br, int bc, int dim, bool storeBiasGradient)
    {
        SoftmaxGradient.ScoresAndOutputGradient(Q, DO, K, V, layout.RowStride, S, DS, layout.ScoreStride, br, bc, dim);
        Group.Barrier();
        SoftmaxGradient.Apply(S, DS, layout.ScoreStride, LseLog2, Delta, mask, scores, dropout, scaleLog2, firstRow, firstCol, br, bc, storeBiasGradient);
        Group.Barrier();
    }
}
