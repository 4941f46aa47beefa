using FlashAttention.Kernels.Numerics;

namespace FlashAttention.Kernels.Portable;

/// <summary>
/// One thread's share of the output accumulator acc [Br][headdim]: a 4 x 8 block (rows r0..r0+3,
/// dims d0..d0+7) held in registers for the whole key loop, as FlashAttention keeps acc on chip.
/// Thread t owns rows 4 (t / (headdim / 8)) and dims 8 (t mod (headdim / 8)), so a group has
/// exactly Br x headdim / 32 threads.
/// </summary>
internal struct OutputBlock
{
    private MicroTile4x4 low;   // dims d0 .. d0 + 3
    private MicroTile4x4 high;  // dims d0 + 4 .. d0 + 7

    /// <summary>First row of the block within the query tile.</summary>
    public int R0;

    /// <summary>First head-dim column of the block.</summary>
    public int D0;

    /// <summary>The block of thread <paramref name="thread"/>, zeroed.</summary>
    public static OutputBlock ForThread(int thread, int dimPadded)
    {
        int blocksPerRow = dimPadded / 8;
        int rowBlock = thread / blocksPerRow;
        return new OutputBlock { R0 = rowBlock * 4, D0 = (thread - rowBlock * blocksPerRow) * 8 };
    }

    /// <summary>acc = acc * alpha (per row, the online-softmax rescale) + P V for one key tile.</summary>
    /// <param name="alpha">Per-row rescale factors [Br].</param>
    /// <param name="pt">Probabilities, transposed [Bc][ptStride].</param>
    /// <param name="ptStride">Row length of <paramref name="pt"/>.</param>
    /// <param name="v">The V tile [Bc][dimPadded].</param>
    /// <param name="bc">Keys in the tile.</param>
    /// <param name="dimPadded">Compiled head dim.</param>
    public void AccumulatePV(ArrayView<float> alpha, ArrayView<float> pt, int ptStride, ArrayView<float> v, int bc, int dimPadded)
    {
        float a0 = alpha[R0], a1 = alpha[R0 + 1], a2 = alpha[R0 + 2], a3 = alpha[R0 + 3];
        low.ScaleRows(a0, a1, a2, a3);
        high.ScaleRows(a0, a1, a2, a3);
        // Strides in vectors are compile-time constants, indices 64-bit (see Float4.At).
        long ps = ptStride >> 2, vs = dimPadded >> 2;
        long pi = R0 >> 2, vi = D0 >> 2;
        // Two keys per iteration (tiles are multiples of 8 keys), for the same reason as in ScoreTile.
        for (int c = 0; c < bc; c += 2)
        {
            var p0 = Float4.At(pt, pi);
            low.AccumulateOuter(p0, Float4.At(v, vi));
            high.AccumulateOuter(p0, Float4.At(v, vi + 1));
            var p1 = Float4.At(pt, pi + ps);
            low.AccumulateOuter(p1, Float4.At(v, vi + vs));
            high.AccumulateOuter(p1, Float4.At(v, vi + vs + 1));
            pi += 2 * ps;
            vi += 2 * vs;
        }
    }

    /// <summary>O = acc / l for the block's rows inside the sequence and dims inside the real head dim.</summary>
    public readonly void Write<T, TOps>(in ForwardParams<T> p, ArrayView<float> invL, int batch, int head, int firstRow)
        where T : unmanaged
        where TOps : struct, IElementOps<T>
    {
        WriteRow<T, TOps>(p, invL, batch, head, firstRow, 0, low.A00, low.A01, low.A02, low.A03, high.A00, high.A01, high.A02, high.A03);
        WriteRow<T, TOps>(p, invL, batch, head, firstRow, 1, low.A10, low.A11, low.A12, low.A13, high.A10, high.A11, high.A12, high.A13);
        WriteRow<T, TOps>(p, invL, batch, head, firstRow, 2, low.A20, low.A21, low.A22, low.A23, high.A20, high.A21, high.A22, high.A23);
        WriteRow<T, TOps>(p, invL, batch, head, firstRow, 3, low.A30, low.A31, low.A32, low.A33, high.A30, high.A31, high.A32, high.A33);
    }

    private readonly void WriteRow<T, TOps>(in ForwardParams<T> p, ArrayView<float> invL, int batch, int head, int firstRow, int i,
        float x0, float x1, float x2, float x3, float x4, float x5, float x6, float x7)
        where T : unmanaged
        where TOps : struct, IElementOps<T>
    {
        int row = firstRow + R0 + i;
        if (row >= p.SeqLenQ)
            return;
        float s = invL[R0 + i];
        long at = p.O.RowOffset(batch, row, head) + D0;
        var ops = default(TOps);
        // Head dims that are not a multiple of 8 end inside a block: write only the real columns.
        int n = Math.Min(8, p.HeadDim - D0);
        if (n > 0) p.O.Data[at] = ops.FromFloat(x0 * s);
        if (n > 1) p.O.Data[at + 1] = ops.FromFloat(x1 * s);
        if (n > 2) p.O.Data[at + 2] = ops.FromFloat(x2 * s);
        if (n > 3) p.O.Data[at + 3] = ops.FromFloat(x3 * s);
        if (n > 4) p.O.Data[at + 4] = ops.FromFloat(x4 * s);
        if (n > 5) p.O.Data[at + 5] = ops.FromFloat(x5 * s);
        if (n > 6) p.O.Data[at + 6] = ops.FromFloat(x6 * s);
        if (n > 7) p.O.Data[at + 7] = ops.FromFloat(x7 * s);
    }
}
