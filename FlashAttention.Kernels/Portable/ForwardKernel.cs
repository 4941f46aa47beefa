using FlashAttention.Kernels.Numerics;
using ILGPU;
using ILGPU.Runtime;

namespace FlashAttention.Kernels.Portable;

/// <summary>
/// The portable fused forward kernel: FlashAttention's algorithm with group barriers and shared
/// memory only (no warp-level operations), so one body runs on CUDA, OpenCL and the CPU.
/// </summary>
public static class ForwardKernel
{
    /// <summary>
    /// One group computes Br query rows of one (batch, head): grid = (ceil(seqlen_q / Br), heads_q, batch),
    /// Br x <typeparamref name="TDim"/> / 32 threads per group (each owns a 4 x 8 block of the output).
    /// <typeparamref name="TDim"/> is the head dim rounded up to a compiled size; Br and Bc are the
    /// query and key tile heights. All three are compile-time constants. <typeparamref name="TShared"/>
    /// says where the tiles live (dynamic or static shared memory, per backend).
    /// </summary>
    public static void Run<T, TOps, TShared, TDim, TBr, TBc>(ForwardParams<T> p)
        where T : unmanaged
        where TOps : struct, IElementOps<T>
        where TShared : struct, ISharedTiles
        where TDim : struct, IConstant
        where TBr : struct, IConstant
        where TBc : struct, IConstant
    {
        int dim = default(TDim).Value;
        int br = default(TBr).Value;
        int bc = default(TBc).Value;
        var layout = new ForwardSharedLayout(dim, br, bc);
        var smem = default(TShared).Floats(layout.TotalFloats);
        var qt = smem.SubView(layout.QtOffset, dim * layout.QtStride);
        var kv = smem.SubView(layout.KvOffset, layout.PtOffset - layout.KvOffset);
        var pt = smem.SubView(layout.PtOffset, bc * layout.PtStride);
        var m = smem.SubView(layout.MOffset, br);
        var l = smem.SubView(layout.LOffset, br);
        var alpha = smem.SubView(layout.AlphaOffset, br);

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
        OnlineSoftmax.Reset(m, l, br);
        var acc = OutputBlock.ForThread(Group.IdxX, dim);

        var scores = p.Scores.ForHead(batch, head);
        var dropout = p.Dropout.ForHead(batch, head);

        // The causal mask and the sliding window hide every key tile before the block's first
        // visible key and at or past keyEnd from all its rows: those tiles are skipped, so the
        // work is proportional to the window, not to seqlen_k.
        int keyEnd = p.Mask.KeyEnd(firstRow + rowsHere);
        for (int firstCol = p.Mask.KeyTileStart(firstRow, bc); firstCol < keyEnd; firstCol += bc)
        {
            // Tiles of a block the block mask hides are skipped whole (the same decision for the whole group).
            if (!p.Blocks.Visible(batch, head, firstRow, firstCol))
                continue;
            int colsHere = Math.Min(bc, p.SeqLenK - firstCol);
            Group.Barrier(); // the previous tile's P V product is done with the K/V space
            TileLoader.LoadTransposed<T, TOps>(p.K, batch, kvHead, firstCol, colsHere, p.HeadDim, bc, dim, kv, layout.KtStride);
            Group.Barrier();
            ScoreTile.Compute(qt, layout.QtStride, kv, layout.KtStride, pt, layout.PtStride, br, bc, dim, p.ScaleLog2);
            Group.Barrier();
            // The softmax touches only Pt, m, l, alpha: V can overwrite K meanwhile.
            OnlineSoftmax.Update(pt, layout.PtStride, m, l, alpha, p.Mask, scores, dropout, firstRow, firstCol, br, bc);
            TileLoader.LoadRowMajor<T, TOps>(p.V, batch, kvHead, firstCol, colsHere, p.HeadDim, bc, dim, kv, dim);
            Group.Barrier();
            acc.AccumulatePV(alpha, pt, layout.PtStride, kv, bc, dim);
        }

        Group.Barrier();
        RowStatistics.FinishRows(p, m, l, alpha, batch, head, firstRow, br);
        Group.Barrier();
        acc.Write<T, TOps>(p, alpha, batch, head, firstRow);
    }
}
