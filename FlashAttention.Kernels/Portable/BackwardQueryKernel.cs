using FlashAttention.Kernels.Numerics;

namespace FlashAttention.Kernels.Portable;

/// <summary>
/// dQ in a pass of its own (FlashAttention-2 adds dQ with atomics from the dK/dV kernel; a separate
/// pass recomputes S and dP once more but needs no atomics and is deterministic). One group owns
/// Br query rows of one head and walks the key tiles they can see: dQ += dS K * scale.
/// Grid = (ceil(seqlen_q / Br), heads_q, batch).
/// </summary>
public static class BackwardQueryKernel
{
    /// <summary>Computes <see cref="BackwardParams{T}.DQ"/>.</summary>
    public static void Run<T, TOps, TVec, TShared, TDim, TBr, TBc>(BackwardParams<T> p)
        where T : unmanaged
        where TOps : struct, IElementOps<T>
        where TVec : struct, IVectorElements<T>
        where TShared : struct, ISharedTiles
        where TDim : struct, IConstant
        where TBr : struct, IConstant
        where TBc : struct, IConstant
    {
        int dim = default(TDim).Value;
        int br = default(TBr).Value;
        int bc = default(TBc).Value;
        var layout = new BackwardSharedLayout(dim, br, bc, keyValueKernel: false);
        var smem = default(TShared).Floats(layout.TotalFloats);
        var t = BackwardTiles.Of(smem, layout, dim, br, bc, keyValueKernel: false);

        int firstRow = Grid.IdxX * br;
        int head = Grid.IdxY;
        int batch = Grid.IdxZ;
        if (p.Sequences.Enabled != 0)
        {
            // Varlen: this group's sequence, as batch item 0; nothing to do past its end.
            var sequence = p.Sequences.Of(batch);
            if (firstRow >= sequence.LengthQ)
                return;
            p = PackedSequences.ForSequence(p, sequence);
            batch = 0;
        }
        int kvHead = head / p.QueryHeadsPerKvHead;
        int rowsHere = Math.Min(br, p.SeqLenQ - firstRow);
        bool aligned = p.VectorAligned != 0;
        TileStage.LoadPair<T, TOps, TVec>(p.Q, p.DO, batch, head, firstRow, rowsHere, br, p.HeadDim, dim, aligned, t.Q, t.DO, layout.RowStride);
        SoftmaxGradient.LoadRowStats(p, batch, head, firstRow, br, t.LseLog2, t.Delta);
        SoftmaxGradient.Clear(t.Acc0, br * dim);

        var scores = p.Scores.ForHead(batch, head);
        var dropout = p.Dropout.ForHead(batch, head);

        // Only the key tiles these rows can see (causal mask, sliding window): the rest are skipped.
        int keyEnd = p.Mask.KeyEnd(firstRow + rowsHere);
        for (int firstCol = p.Mask.KeyTileStart(firstRow, bc); firstCol < keyEnd; firstCol += bc)
        {
            // Tiles of a block the block mask hides are skipped whole (the same decision for the whole group).
            if (!p.Blocks.Visible(batch, head, firstRow, firstCol))
                continue;
            int colsHere = Math.Min(bc, p.SeqLenK - firstCol);
            Group.Barrier(); // the previous step is done with K, V, P, dS
            TileStage.LoadPair<T, TOps, TVec>(p.K, p.V, batch, kvHead, firstCol, colsHere, bc, p.HeadDim, dim, aligned, t.K, t.V, layout.RowStride);
            Group.Barrier();
            t.Gradient(layout, p.Mask, scores, dropout, p.ScaleLog2, firstRow, firstCol, br, bc, dim, storeBiasGradient: true);
            SoftmaxGradient.AccumulateProduct(t.Acc0, t.DS, layout.ScoreStride, t.K, layout.RowStride, br, bc, dim);
        }

        Group.Barrier();
        SoftmaxGradient.Write<T, TOps>(p.DQ, t.Acc0, p.Scale, batch, head, firstRow, br, p.SeqLenQ, p.HeadDim, dim);
    }
}
