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
    /// acc += A B for one 16-deep k-step, on one 16-row block (<paramref name="two"/> false) or on two
    /// that share B: each B fragment, loaded once by ldmatrix, feeds the products of both blocks, which
    /// halves the shared-memory reads per mma.sync (FlashAttention-2 gives each warp 32 rows for this).
    /// B's 16 x 64 block starts at this lane's element <paramref name="offset"/> (its ldmatrix lane
    /// offset included); each further 16 columns lie <paramref name="pairStep"/> elements on: 16 rows
    /// of K (S = Q K^T, not transposed) or 16 elements of a V row (O += P V, transposed). Only the first
    /// <paramref name="columns"/> (16, 32, 48 or 64; compile-time values) are computed, for head dims
    /// that end inside the block. <paramref name="exchange"/> is the group's board, used off CUDA only.
    /// </summary>
    public static void MultiplyAccumulate<TTarget, TElement>(ref Tile8 top, in FragmentA aTop, ref Tile8 bottom, in FragmentA aBottom,
        bool two, ArrayView<ushort> shared, int offset, int pairStep, bool transposedB, in WarpExchange exchange, int columns = 64)
        where TTarget : struct, ITensorCoreTarget
        where TElement : struct, IMmaElement
    {
        var b = Ldmatrix.X4<TTarget>(shared, offset, transposedB, exchange);
        Pair<TTarget, TElement>(ref top.N0, ref top.N1, ref bottom.N0, ref bottom.N1, aTop, aBottom, two, b, exchange);
        if (columns > 16)
        {
            b = Ldmatrix.X4<TTarget>(shared, offset + pairStep, transposedB, exchange);
            Pair<TTarget, TElement>(ref top.N2, ref top.N3, ref bottom.N2, ref bottom.N3, aTop, aBottom, two, b, exchange);
        }
        if (columns > 32)
        {
            b = Ldmatrix.X4<TTarget>(shared, offset + 2 * pairStep, transposedB, exchange);
            Pair<TTarget, TElement>(ref top.N4, ref top.N5, ref bottom.N4, ref bottom.N5, aTop, aBottom, two, b, exchange);
        }
        if (columns > 48)
        {
            b = Ldmatrix.X4<TTarget>(shared, offset + 3 * pairStep, transposedB, exchange);
            Pair<TTarget, TElement>(ref top.N6, ref top.N7, ref bottom.N6, ref bottom.N7, aTop, aBottom, two, b, exchange);
        }
    }

    /// <summary>Two n-tiles (16 columns) of one or two row blocks from one ldmatrix .x4 of B.</summary>
    private static void Pair<TTarget, TElement>(ref FragmentC topLeft, ref FragmentC topRight, ref FragmentC bottomLeft, ref FragmentC bottomRight,
        in FragmentA aTop, in FragmentA aBottom, bool two, in Fragment4 b, in WarpExchange exchange)
        where TTarget : struct, ITensorCoreTarget
        where TElement : struct, IMmaElement
    {
        var left = new FragmentB { B0 = b.R0, B1 = b.R1 };
        var right = new FragmentB { B0 = b.R2, B1 = b.R3 };
        Mma.MultiplyAccumulate<TTarget, TElement>(ref topLeft, aTop, left, exchange);
        Mma.MultiplyAccumulate<TTarget, TElement>(ref topRight, aTop, right, exchange);
        if (two)
        {
            Mma.MultiplyAccumulate<TTarget, TElement>(ref bottomLeft, aBottom, left, exchange);
            Mma.MultiplyAccumulate<TTarget, TElement>(ref bottomRight, aBottom, right, exchange);
        }
    }
}
