using ILGPU.Algorithms;

namespace FlashAttention.Kernels.Portable;

/// <summary>
/// The pieces both main backward kernels share: recompute S and dP for a Br x Bc tile, then turn
/// them into P = exp(S * scale - LSE) and dS = P * (dP - D) without ever storing an N x N matrix.
/// </summary>
internal static class SoftmaxGradient
{
    /// <summary>
    /// S = Q K^T into <paramref name="s"/> and dP = dO V^T into <paramref name="dp"/>, both [Br][Bc]
    /// row-major; each thread computes 4 x 4 blocks of both from the row-major tiles.
    /// </summary>
    public static void ScoresAndOutputGradient(
        ArrayView<float> q, ArrayView<float> dO, ArrayView<float> k, ArrayView<float> v, int rowStride,
        ArrayView<float> s, ArrayView<float> dp, int scoreStride, int br, int bc, int dimPadded)
    {
        int blocksPerRow = bc / 4;
        for (int t = Group.IdxX; t < (br / 4) * blocksPerRow; t += Group.DimX)
        {
            int r0 = (t / blocksPerRow) * 4;
            int c0 = (t - (t / blocksPerRow) * blocksPerRow) * 4;
            var sAcc = new MicroTile4x4();
            var dpAcc = new MicroTile4x4();
            for (int d = 0; d < dimPadded; d++)
            {
                sAcc.AccumulateOuter(q, r0 * rowStride + d, rowStride, k, c0 * rowStride + d, rowStride);
                dpAcc.AccumulateOuter(dO, r0 * rowStride + d, rowStride, v, c0 * rowStride + d, rowStride);
            }
            sAcc.Store(s, r0 * scoreStride + c0, scoreStride);
            dpAcc.Store(dp, r0 * scoreStride + c0, scoreStride);
        }
    }

    /// <summary>
    /// In place: S becomes P = exp2(modified(S * scaleLog2) - LSE * log2 e) (times Z / (1 - p) under
    /// dropout: the P that multiplied V), 0 where masked or where
    /// the row saw no key in the forward (LSE = -inf); dP becomes the gradient with respect to the
    /// scaled score, dS = P * (dP - D) times the modifier's slope (1 - tanh² under soft-capping).
    /// With <paramref name="storeBiasGradient"/> (the dQ pass, which visits each (i, j) of a head
    /// once) it also writes dBias = P * (dP - D): the bias adds to the logit directly, so no slope.
    /// </summary>
    public static void Apply(
        ArrayView<float> s, ArrayView<float> dp, int scoreStride, ArrayView<float> lseLog2, ArrayView<float> delta,
        AttentionMask mask, ScoreModifier scores, Dropout dropout, float scaleLog2, int firstRow, int firstCol, int br, int bc,
        bool storeBiasGradient)
    {
        for (int idx = Group.IdxX; idx < br * bc; idx += Group.DimX)
        {
            int r = idx / bc;
            int c = idx - r * bc;
            int at = r * scoreStride + c;
            int i = firstRow + r;
            int j = firstCol + c;
            float rowLse = lseLog2[r];
            float prob = 0f;
            float slope = 0f;
            if (!mask.IsMasked(i, j) && rowLse != float.NegativeInfinity)
            {
                var (logit, dLogit) = scores.LogitAndSlope(s[at] * scaleLog2, i, j);
                prob = XMath.Exp2(logit - rowLse);
                slope = dLogit;
            }
            // Dropout (FlashAttention-2's backward): O = (P Z / (1 - p)) V, so dV takes the dropped
            // P and the gradient reaching P is dO V^T times Z / (1 - p); D = rowsum(dO O) with the
            // dropped O already equals sum_j P dP, so dS = P (dP - D) keeps its form.
            float factor = prob != 0f && dropout.Enabled != 0 ? dropout.Factor(i, j) : 1f;
            s[at] = prob * factor;
            // A hidden element gives exactly 0, even where dP is not finite (rows dO never reached).
            float gradLogit = prob != 0f ? prob * (dp[at] * factor - delta[r]) : 0f;
            if (storeBiasGradient)
                scores.Elements.StoreGradient(i, j, gradLogit);
            dp[at] = gradLogit * slope;
        }
    }

    /// <summary>Loads LSE * log2(e) and D of rows [firstRow, firstRow + br); rows past the sequence get LSE = -inf (P = 0).</summary>
    public static void LoadRowStats<T>(in BackwardParams<T> p, int batch, int head, int firstRow, int br,
        ArrayView<float> lseLog2, ArrayView<float> delta)
        where T : unmanaged
    {
        for (int r = Group.IdxX; r < br; r += Group.DimX)
        {
            int i = firstRow + r;
            long at = ((long)batch * p.HeadsQ + head) * p.SeqLenQ + i;
            bool inside = i < p.SeqLenQ;
            lseLog2[r] = inside ? p.Lse[at] * 1.4426950408889634f : float.NegativeInfinity;
            delta[r] = inside ? p.Delta[at] : 0f;
        }
    }

    /// <summary>Sets <paramref name="count"/> floats to zero.</summary>
    public static void Clear(ArrayView<float> acc, int count)
    {
        for (int idx = Group.IdxX; idx < count; idx += Group.DimX)
            acc[idx] = 0f;
    }

    /// <summary>acc [rows][dim] += x^T y, where x is [n][rows] (stride xStride) and y is [n][dim] (stride yStride).</summary>
    public static void AccumulateTransposedProduct(
        ArrayView<float> acc, ArrayView<float> x, int xStride, ArrayView<float> y, int yStride, int rows, int n, int dimPadded)
    {
        int blocksPerRow = dimPadded / 4;
        for (int t = Group.IdxX; t < (rows / 4) * blocksPerRow; t += Group.DimX)
        {
            int r0 = (t / blocksPerRow) * 4;
            int d0 = (t - (t / blocksPerRow) * blocksPerRow) * 4;
            int at = r0 * dimPadded + d0;
            var a = MicroTile4x4.Load(acc, at, dimPadded);
            for (int j = 0; j < n; j++)
                a.AccumulateOuter(x, j * xStride + r0, y, j * yStride + d0);
            a.Store(acc, at, dimPadded);
        }
    }

    /// <summary>acc [rows][dim] += x y, where x is [rows][n] (stride xStride) and y is [n][dim] (stride yStride).</summary>
    public static void AccumulateProduct(
        ArrayView<float> acc, ArrayView<float> x, int xStride, ArrayView<float> y, int yStride, int rows, int n, int dimPadded)
    {
        int blocksPerRow = dimPadded / 4;
        for (int t = Group.IdxX; t < (rows / 4) * blocksPerRow; t += Group.DimX)
        {
            int r0 = (t / blocksPerRow) * 4;
            int d0 = (t - (t / blocksPerRow) * blocksPerRow) * 4;
            int at = r0 * dimPadded + d0;
            var a = MicroTile4x4.Load(acc, at, dimPadded);
            for (int j = 0; j < n; j++)
                a.AccumulateOuter(x, r0 * xStride + j, xStride, y, j * yStride + d0, 1);
            a.Store(acc, at, dimPadded);
        }
    }

    /// <summary>Writes rows [firstRow, firstRow + rows) of acc * factor to a gradient tensor, inside the sequence only.</summary>
    public static void Write<T, TOps>(StridedTensor<T> dst, ArrayView<float> acc, float factor,
        int batch, int head, int firstRow, int rows, int seqLen, int headDim, int dimPadded)
        where T : unmanaged
        where TOps : struct, Numerics.IElementOps<T>
    {
        for (int idx = Group.IdxX; idx < rows * dimPadded; idx += Group.DimX)
        {
            int r = idx / dimPadded;
            int d = idx - r * dimPadded;
            int i = firstRow + r;
            if (i < seqLen && d < headDim)
                dst.Data[dst.RowOffset(batch, i, head) + d] = default(TOps).FromFloat(acc[idx] * factor);
        }
    }
}
