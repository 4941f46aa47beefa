namespace FlashAttention.Kernels.TensorCore;

/// <summary>
/// Eight m16n8 accumulator fragments side by side: a warp's 16 x 64 block (16 query rows by 64 keys
/// for S, or by 64 head dims for O). Named fields, because ILGPU keeps indexed locals in local memory.
/// </summary>
public struct Tile8
{
    /// <summary>Columns 8i .. 8i + 7.</summary>
    public FragmentC N0, N1, N2, N3, N4, N5, N6, N7;

    /// <summary>Multiplies rows g and g + 8 by <paramref name="low"/> and <paramref name="high"/> (the online-softmax rescale).</summary>
    public void ScaleRows(float low, float high)
    {
        Scale(ref N0, low, high); Scale(ref N1, low, high); Scale(ref N2, low, high); Scale(ref N3, low, high);
        Scale(ref N4, low, high); Scale(ref N5, low, high); Scale(ref N6, low, high); Scale(ref N7, low, high);
    }

    private static void Scale(ref FragmentC c, float low, float high)
    {
        c.C0 *= low;
        c.C1 *= low;
        c.C2 *= high;
        c.C3 *= high;
    }

    /// <summary>
    /// acc += A B for one 16-deep k-step, where B's columns come from 16-bit rows of shared memory:
    /// non-transposed (S = Q K^T: rows are keys, <paramref name="firstRow"/> the first key, k along the row)
    /// or transposed (O += P V: rows are keys = k, columns are dims from <paramref name="firstColumn"/>).
    /// Only the first <paramref name="columns"/> (16, 32, 48 or 64; a compile-time value in the kernels)
    /// of the 64 are computed, for head dims that end inside the block.
    /// </summary>
    public void MultiplyAccumulate<TTarget, TElement>(in FragmentA a, ArrayView<ushort> shared, int baseOffset, int stride,
        int firstRow, int firstColumn, bool transposedB, int columns = 64)
        where TTarget : struct, ITensorCoreTarget
        where TElement : struct, IMmaElement
    {
        Pair<TTarget, TElement>(ref N0, ref N1, a, shared, baseOffset, stride, firstRow, firstColumn, 0, transposedB);
        if (columns > 16)
            Pair<TTarget, TElement>(ref N2, ref N3, a, shared, baseOffset, stride, firstRow, firstColumn, 16, transposedB);
        if (columns > 32)
            Pair<TTarget, TElement>(ref N4, ref N5, a, shared, baseOffset, stride, firstRow, firstColumn, 32, transposedB);
        if (columns > 48)
            Pair<TTarget, TElement>(ref N6, ref N7, a, shared, baseOffset, stride, firstRow, firstColumn, 48, transposedB);
    }

    /// <summary>Two n-tiles (columns n0 .. n0 + 15) from one ldmatrix .x4.</summary>
    private static void Pair<TTarget, TElement>(ref FragmentC left, ref FragmentC right, in FragmentA a, ArrayView<ushort> shared,
        int baseOffset, int stride, int firstRow, int firstColumn, int n0, bool transposedB)
        where TTarget : struct, ITensorCoreTarget
        where TElement : struct, IMmaElement
    {
        int lane = Warp.LaneIdx;
        int matrix = lane >> 3;
        int r = lane & 7;
        int offset;
        if (!transposedB)
        {
            // B[k][n] = K[n][k]: matrices (keys n0.., k 0..7), (n0.., k 8..15), (n0+8.., k 0..7), (n0+8.., k 8..15).
            int key = firstRow + n0 + r + (matrix >> 1) * 8;
            offset = baseOffset + key * stride + firstColumn + (matrix & 1) * 8;
        }
        else
        {
            // B[k][n] = V[k][n]: matrices (k 0..7, dims n0..), (k 8..15, n0..), (k 0..7, n0+8..), (k 8..15, n0+8..).
            int key = firstRow + r + (matrix & 1) * 8;
            offset = baseOffset + key * stride + firstColumn + n0 + (matrix >> 1) * 8;
        }
        var f = Ldmatrix.X4<TTarget>(shared, offset, transposedB);
        Mma.MultiplyAccumulate<TTarget, TElement>(ref left, a, new FragmentB { B0 = f.R0, B1 = f.R1 });
        Mma.MultiplyAccumulate<TTarget, TElement>(ref right, a, new FragmentB { B0 = f.R2, B1 = f.R3 });
    }
}
