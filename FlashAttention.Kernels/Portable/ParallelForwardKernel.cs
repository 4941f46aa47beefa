using FlashAttention.Kernels.Numerics;

namespace FlashAttention.Kernels.Portable;

/// <summary>
/// v4 of the portable fused forward kernel (<see cref="ForwardVariant.V4"/>): the same algorithm,
/// tiles and output blocks as <see cref="ForwardKernel"/>, with every thread at work in every phase:
/// S = Q Kᵀ splits the head dim between threads when the tile has fewer 4 x 4 blocks than threads
/// (<see cref="ScoreTile.ComputeSplit"/>), and the online softmax runs head dim / 32 threads per
/// query row (<see cref="SoftmaxRowShare"/>). That lets Bc = 32 serve head dim 128 with all 256
/// threads busy in 70 KB of shared memory (3 groups per H100 SM instead of 2 at 64 x 64).
/// K and V tiles whose rows start on 16-byte boundaries are copied a phase ahead through registers
/// (<see cref="TileStage"/>); others element by element (<see cref="TileLoader"/>).
/// Group barriers and shared memory only, so it runs on CUDA, OpenCL and the CPU.
/// </summary>
public static class ParallelForwardKernel
{
    /// <summary>
    /// One group computes Br query rows of one (batch, head): grid = (ceil(seqlen_q / Br), heads_q, batch),
    /// Br x <typeparamref name="TDim"/> / 32 threads per group (each owns a 4 x 8 block of the output).
    /// </summary>
    public static void Run<T, TOps, TVec, TShared, TDim, TBr, TBc>(ForwardParams<T> p)
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
        var layout = new ParallelForwardLayout(dim, br, bc);
        var smem = default(TShared).Floats(layout.TotalFloats);
        var qt = smem.SubView(layout.QtOffset, dim * layout.QtStride);
        var kv = smem.SubView(layout.KvOffset, layout.KvFloats);
        var pt = smem.SubView(layout.PtOffset, layout.Splits * layout.PtSliceFloats);
        var alpha = smem.SubView(layout.AlphaOffset, br);
        var reduce = smem.SubView(layout.ReduceOffset, layout.Threads);

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

        TileLoader.LoadTransposed<T, TOps>(p.Q, batch, head, firstRow, rowsHere, p.HeadDim, br, dim, qt, layout.QtStride);
        var row = SoftmaxRowShare.ForThread(Group.IdxX, br);
        var acc = OutputBlock.ForThread(Group.IdxX, dim);

        var scores = p.Scores.ForHead(batch, head);
        var dropout = p.Dropout.ForHead(batch, head);

        // K and V move through registers as 16-byte vectors when their rows allow it (TileStage):
        // V is fetched before S = Q Kᵀ and stored after it, the next K before the softmax and P V.
        int per = default(TVec).PerVector;
        int perRow = dim / per;
        bool staged = p.VectorAligned != 0 && p.HeadDim == dim && TileStage.Fits(dim, bc, layout.Threads, per);

        // The causal mask and the sliding window hide every key tile before the block's first
        // visible key and at or past keyEnd from all its rows: those tiles are skipped, so the
        // work is proportional to the window, not to seqlen_k. Tiles of a block the block mask
        // hides are skipped whole too (the same decision for the whole group).
        int keyEnd = p.Mask.KeyEnd(firstRow + rowsHere);
        int endTile = (keyEnd + bc - 1) / bc;
        int tile = p.Blocks.NextVisibleTile(batch, head, firstRow, p.Mask.KeyTileStart(firstRow, bc) / bc, endTile, bc);
        var stage = staged && tile < endTile ? FetchKeys<T, TVec>(p, batch, kvHead, tile, bc, perRow, layout.Threads) : default;
        while (tile < endTile)
        {
            int firstCol = tile * bc;
            int colsHere = Math.Min(bc, p.SeqLenK - firstCol);
            tile = p.Blocks.NextVisibleTile(batch, head, firstRow, tile + 1, endTile, bc);
            Group.Barrier(); // the previous tile's P V product is done with K/V, Pt and alpha
            if (staged)
            {
                stage.StoreTransposed<T, TVec>(kv, layout.KtStride, bc, perRow, layout.Threads);
                stage = TileStage.FetchRowMajor(VectorRows.For(p.V, batch, kvHead, per), firstCol, colsHere, bc, perRow, layout.Threads);
            }
            else
            {
                TileLoader.LoadTransposed<T, TOps>(p.K, batch, kvHead, firstCol, colsHere, p.HeadDim, bc, dim, kv, layout.KtStride);
            }
            Group.Barrier();
            ScoreTile.ComputeSplit(qt, layout.QtStride, kv, layout.KtStride, pt, layout.PtStride, layout.PtSliceFloats,
                layout.Splits, br, bc, dim, p.ScaleLog2);
            Group.Barrier();
            row.PartialMax(pt, layout.PtStride, layout.PtSliceFloats, layout.Splits, reduce, p.Mask, scores, firstRow, firstCol,
                br, bc, layout.ThreadsPerRow);
            // S is done with K: V overwrites it while the row maxima are combined.
            if (staged)
            {
                stage.StoreRowMajor<T, TVec>(kv, dim, bc, perRow, layout.Threads);
                if (tile < endTile)
                    stage = FetchKeys<T, TVec>(p, batch, kvHead, tile, bc, perRow, layout.Threads);
            }
            else
            {
                TileLoader.LoadRowMajor<T, TOps>(p.V, batch, kvHead, firstCol, colsHere, p.HeadDim, bc, dim, kv, dim);
            }
            Group.Barrier();
            row.Exponentiate(pt, layout.PtStride, reduce, alpha, br, bc, layout.ThreadsPerRow, dropout, firstRow, firstCol);
            Group.Barrier();
            acc.AccumulatePV(alpha, pt, layout.PtStride, kv, bc, dim);
        }

        row.Finish(p, reduce, alpha, batch, head, firstRow, br, layout.ThreadsPerRow);
        acc.Write<T, TOps>(p, alpha, batch, head, firstRow);
    }

    /// <summary>Issues the 16-byte loads of key tile <paramref name="tile"/> (K, to be stored transposed).</summary>
    private static TileStage FetchKeys<T, TVec>(in ForwardParams<T> p, int batch, int kvHead, int tile, int bc, int perRow, int threads)
        where T : unmanaged
        where TVec : struct, IVectorElements<T> =>
        TileStage.FetchForTranspose(VectorRows.For(p.K, batch, kvHead, default(TVec).PerVector), tile * bc, Math.Min(bc, p.SeqLenK - tile * bc), bc, perRow, threads);
}
