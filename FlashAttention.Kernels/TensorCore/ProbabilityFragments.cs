namespace FlashAttention.Kernels.TensorCore;

/// <summary>
/// P of a warp's 16 rows by the 32 or 64 keys of a tile as two or four A fragments of the P V product, one per
/// 16 keys: the S accumulator fragments, exponentiated in place, narrowed to fp16/bf16 pairs. P never
/// leaves the registers, because an m16n8 accumulator and an m16k16 A operand give each lane the same
/// rows and neighbouring columns.
/// </summary>
internal struct ProbabilityFragments
{
    /// <summary>Keys 0-15, 16-31, 32-47 and 48-63 of the tile (the last two only when it has 64).</summary>
    public FragmentA K0, K1, K2, K3;

    /// <summary>P of a tile of <paramref name="columns"/> (32 or 64, compile-time) keys.</summary>
    public static ProbabilityFragments From<TTarget, TElement>(in Tile8 p, int columns)
        where TTarget : struct, ITensorCoreTarget
        where TElement : struct, IMmaElement
    {
        var f = new ProbabilityFragments
        {
            K0 = ToA<TTarget, TElement>(p.N0, p.N1),
            K1 = ToA<TTarget, TElement>(p.N2, p.N3),
        };
        if (columns > 32)
        {
            f.K2 = ToA<TTarget, TElement>(p.N4, p.N5);
            f.K3 = ToA<TTarget, TElement>(p.N6, p.N7);
        }
        return f;
    }

    /// <summary>Two adjacent n-tiles of P (16 keys) as one A fragment.</summary>
    private static FragmentA ToA<TTarget, TElement>(in FragmentC left, in FragmentC right)
        where TTarget : struct, ITensorCoreTarget
        where TElement : struct, IMmaElement
    {
        var e = default(TElement);
        return new FragmentA
        {
            A0 = e.Pack<TTarget>(left.C0, left.C1),
            A1 = e.Pack<TTarget>(left.C2, left.C3),
            A2 = e.Pack<TTarget>(right.C0, right.C1),
            A3 = e.Pack<TTarget>(right.C2, right.C3),
        };
    }
}
