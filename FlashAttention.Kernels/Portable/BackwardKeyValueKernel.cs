using FlashAttention.Kernels.Numerics;

namespace FlashAttention.Kernels.Portable;

/// <summary>
/// dK and dV: one group owns Bc keys of one key/value head, walks every query head that shares it
/// and every query tile that can see its keys, and accumulates dV += P^T dO and dK += dS^T Q in
/// shared memory. Each gradient element is written once by one group, in a fixed order: no
/// atomics, so the result is bitwise reproducible. Grid = (ceil(seqlen_k / Bc), heads_kv, batch).
/// </summary>
public static class BackwardKeyValueKernel
{
    /// <summary>Computes <see cref="BackwardParams{T}.DK"/> and <see cref="BackwardParams{T}.DV"/>.</summary>
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
        var layout = new BackwardSharedLayout(dim, br, bc, keyValueKernel: true);
        var smem = default(TShared).Floats(layout.TotalFloats);
        var t = BackwardTiles.Of(smem, layout, dim, br, bc, keyValueKernel: true);

        int firstCol = Grid.IdxX * bc;
        int kvHead = Grid.IdxY;
        int batch = Grid.IdxZ;
        if (p.Sequences.Enabled != 0)
        {
            // Varlen: this group's sequence, as batch item 0; nothing to do past its end.
            var sequence = p.Sequences.Of(batch);
            if (firstCol >= sequence.LengthK)
                return;
            p = PackedSequences.ForSequence(p, sequence);
            batch = 0;
        }
        int colsHere = Math.Min(bc, p.SeqLenK - firstCol);
        bool aligned = p.VectorAligned != 0;
        TileStage.LoadPair<T, TOps, TVec>(p.K, p.V, batch, kvHead, firstCol, colsHere, bc, p.HeadDim, dim, aligned, t.K, t.V, layout.RowStride);
        SoftmaxGradient.Clear(t.Acc0, bc * dim);
        SoftmaxGradient.Clear(t.Acc1, bc * dim);

        // Only the query rows that can see one of these keys (causal mask, sliding window) take
        // part; the query tiles before and after them are skipped.
        int firstTileRow = p.Mask.QueryStart(firstCol) / br * br;
        int rowEnd = p.Mask.QueryEnd(firstCol + colsHere);
        for (int head = kvHead * p.QueryHeadsPerKvHead; head < (kvHead + 1) * p.QueryHeadsPerKvHead; head++)
        {
            var scores = p.Scores.ForHead(batch, head);
            var dropout = p.Dropout.ForHead(batch, head);
            for (int firstRow = firstTileRow; firstRow < rowEnd; firstRow += br)
            {
                if (!p.Blocks.Visible(batch, head, firstRow, firstCol))
                    continue; // a tile of a block the block mask hides
                int rowsHere = Math.Min(br, p.SeqLenQ - firstRow);
                Group.Barrier(); // the previous step is done with Q, dO, P, dS
                TileStage.LoadPair<T, TOps, TVec>(p.Q, p.DO, batch, head, firstRow, rowsHere, br, p.HeadDim, dim, aligned, t.Q, t.DO, layout.RowStride);
                SoftmaxGradient.LoadRowStats(p, batch, head, firstRow, br, t.LseLog2, t.Delta);
                Group.Barrier();
                t.Gradient(layout, p.Mask, scores, dropout, p.ScaleLog2, firstRow, firstCol, br, bc, dim, storeBiasGradient: false);
                SoftmaxGradient.AccumulateTransposedProduct(t.Acc1, t.S, layout.ScoreStride, t.DO, layout.RowStride, bc, br, dim);
                SoftmaxGradient.AccumulateTransposedProduct(t.Acc0, t.DS, layout.ScoreStride, t.Q, layout.RowStride, bc, br, dim);
            }
        }

        Group.Barrier();
        SoftmaxGradient.Write<T, TOps>(p.DK, t.Acc0, p.Scale, batch, kvHead, firstCol, bc, p.SeqLenK, p.HeadDim, dim);
        SoftmaxGradient.Write<T, TOps>(p.DV, t.Acc1, 1f, batch, kvHead, firstCol, bc, p.SeqLenK, p.HeadDim, dim);
    }
}
