using ILGPU.Runtime.Cuda;

namespace FlashAttention.Kernels.TensorCore;

/// <summary>
/// A staged float16 bias added to S by the tensor cores, not the CUDA cores: S = B (I / scale) + Q K^T, in raw S units
/// as the fused softmax takes it. The bias fragments <see cref="BiasStage.Read{TTarget}"/> gives are already a wgmma A
/// operand in registers (the layout P takes for P V), 16 keys each; a product over 16 keys needs only a 16 x 16 diagonal
/// B and writes only its own 16 columns of S, so each 16 keys take one m64n16k16 into those accumulator registers
/// (flashS, <see cref="WgmmaPipeline"/>), issued before Q K^T, which then accumulates onto them.
/// 1/scale is exact in float16 only at some scales, so it is split into hi + lo (<see cref="Portable.ScoreBias.UnitHalves"/>)
/// and each 16 keys take two products: eight m64n16k16 a tile, the work of two m64n64k16. The products b hi and b lo are
/// exact in float32. This replaces a float16 conversion and an FFMA per score (64 instructions a thread and tile), in a
/// kernel bound by instruction issue.
/// A -inf bias (a hidden score) times a zero off the diagonal would be NaN: a warp whose tile holds one gives the tensor
/// cores zeros instead and adds that tile's bias itself (<see cref="BiasFragment.InScores"/> false), as the register path does.
/// </summary>
internal static class BiasProduct
{
    /// <summary>
    /// Shared elements of the diagonal: 16 rows of 128 bytes in the 128-byte swizzle (1024-byte aligned), row n holding hi at
    /// column n and lo at column 16 + n. Read K-major, columns 0-15 are diag(hi) and one k-step on (32 bytes) diag(lo).
    /// </summary>
    public const int Elements = 16 * 64;

    private const string Product = "wgmma.mma_async.sync.aligned.m64n16k16.f32.f16.f16 ";
    private const string Open = "{ .reg .pred p, z; .reg .b32 one; .reg .b64 lo; mov.b32 one, 1; setp.ne.b32 p, one, 0; setp.eq.b32 z, one, 0; " +
                                "add.s64 lo, %16, 2; wgmma.fence.sync.aligned; ";
    private const string Keys0 = Product + "{flashS0, flashS1, flashS2, flashS3, flashS4, flashS5, flashS6, flashS7}, {%0, %1, %2, %3}, %16, z, 1, 1, 0; " +
                                 Product + "{flashS0, flashS1, flashS2, flashS3, flashS4, flashS5, flashS6, flashS7}, {%0, %1, %2, %3}, lo, p, 1, 1, 0; ";
    private const string Keys16 = Product + "{flashS8, flashS9, flashS10, flashS11, flashS12, flashS13, flashS14, flashS15}, {%4, %5, %6, %7}, %16, z, 1, 1, 0; " +
                                  Product + "{flashS8, flashS9, flashS10, flashS11, flashS12, flashS13, flashS14, flashS15}, {%4, %5, %6, %7}, lo, p, 1, 1, 0; ";
    private const string Keys32 = Product + "{flashS16, flashS17, flashS18, flashS19, flashS20, flashS21, flashS22, flashS23}, {%8, %9, %10, %11}, %16, z, 1, 1, 0; " +
                                  Product + "{flashS16, flashS17, flashS18, flashS19, flashS20, flashS21, flashS22, flashS23}, {%8, %9, %10, %11}, lo, p, 1, 1, 0; ";
    private const string Keys48 = Product + "{flashS24, flashS25, flashS26, flashS27, flashS28, flashS29, flashS30, flashS31}, {%12, %13, %14, %15}, %16, z, 1, 1, 0; " +
                                  Product + "{flashS24, flashS25, flashS26, flashS27, flashS28, flashS29, flashS30, flashS31}, {%12, %13, %14, %15}, lo, p, 1, 1, 0; }";
    private const string Issue64 = Open + Keys0 + Keys16 + Keys32 + Keys48;

    /// <summary>
    /// Writes the diagonal at shared element <paramref name="at"/> (1024-byte aligned) from <paramref name="unitHalves"/>; every
    /// thread of the group calls it before the barrier that precedes the first product.
    /// </summary>
    public static void WriteDiagonal(ArrayView<ushort> shared, int at, uint unitHalves, int threads)
    {
        ushort hi = (ushort)unitHalves, lo = (ushort)(unitHalves >> 16);
        for (int i = Group.IdxX; i < Elements; i += threads)
        {
            int n = i >> 6, col = i & 63;
            shared[at + Swizzle128.Offset(n, col, 64)] = col == n ? hi : col == n + 16 ? lo : (ushort)0;
        }
    }

    /// <summary>Whether any lane of the warp holds a -inf in <paramref name="f"/> (a min over its 32 halves, then a vote).</summary>
    public static bool HidesAny<TTarget>(in BiasFragment f)
        where TTarget : struct, ITensorCoreTarget
    {
        uint a = HalfPair.Min<TTarget>(HalfPair.Min<TTarget>(f.N0.HalfLow, f.N0.HalfHigh), HalfPair.Min<TTarget>(f.N1.HalfLow, f.N1.HalfHigh));
        uint b = HalfPair.Min<TTarget>(HalfPair.Min<TTarget>(f.N2.HalfLow, f.N2.HalfHigh), HalfPair.Min<TTarget>(f.N3.HalfLow, f.N3.HalfHigh));
        uint c = HalfPair.Min<TTarget>(HalfPair.Min<TTarget>(f.N4.HalfLow, f.N4.HalfHigh), HalfPair.Min<TTarget>(f.N5.HalfLow, f.N5.HalfHigh));
        uint d = HalfPair.Min<TTarget>(HalfPair.Min<TTarget>(f.N6.HalfLow, f.N6.HalfHigh), HalfPair.Min<TTarget>(f.N7.HalfLow, f.N7.HalfHigh));
        uint min = HalfPair.Min<TTarget>(HalfPair.Min<TTarget>(a, b), HalfPair.Min<TTarget>(c, d));
        return WarpVote.Any<TTarget>(HalfPair.HoldsNegativeInfinity(min));
    }

    /// <summary>
    /// Issues S = B (I / scale) for the calling warpgroup into S's registers (not committed: <see cref="WgmmaPipeline.Issue{TTarget, TElement}"/>
    /// with accumulate follows and commits both), B being this warp's <paramref name="bias"/> fragments and the diagonal at shared element
    /// <paramref name="diagonal"/>. Off CUDA <paramref name="pending"/> takes the products.
    /// </summary>
    public static void Issue<TTarget>(ref Tile8 pending, in BiasFragment bias, ArrayView<ushort> shared, int sharedBase, int diagonal, in WarpExchange exchange)
        where TTarget : struct, ITensorCoreTarget
    {
        ulong hi = Swizzle128.Descriptor(sharedBase + 2 * diagonal);
        if (!default(TTarget).EmitsPtx)
        {
            pending = default;
            Emulate(ref pending.N0, ref pending.N1, bias.N0, bias.N1, shared, sharedBase, hi, exchange);
            Emulate(ref pending.N2, ref pending.N3, bias.N2, bias.N3, shared, sharedBase, hi, exchange);
            Emulate(ref pending.N4, ref pending.N5, bias.N4, bias.N5, shared, sharedBase, hi, exchange);
            Emulate(ref pending.N6, ref pending.N7, bias.N6, bias.N7, shared, sharedBase, hi, exchange);
            return;
        }
        Ref<uint> a0 = bias.N0.HalfLow, a1 = bias.N0.HalfHigh, a2 = bias.N1.HalfLow, a3 = bias.N1.HalfHigh,
            a4 = bias.N2.HalfLow, a5 = bias.N2.HalfHigh, a6 = bias.N3.HalfLow, a7 = bias.N3.HalfHigh,
            a8 = bias.N4.HalfLow, a9 = bias.N4.HalfHigh, a10 = bias.N5.HalfLow, a11 = bias.N5.HalfHigh,
            a12 = bias.N6.HalfLow, a13 = bias.N6.HalfHigh, a14 = bias.N7.HalfLow, a15 = bias.N7.HalfHigh;
        Ref<ulong> b = hi;
        CudaAsm.EmitRef(Issue64, ref a0, ref a1, ref a2, ref a3, ref a4, ref a5, ref a6, ref a7, ref a8, ref a9, ref a10, ref a11, ref a12, ref a13, ref a14,
            ref a15, ref b);
    }

    /// <summary>
    /// 16 keys: the A fragment (rows g and g + 8, keys 2q and 8 + 2q onwards) is the two n-tiles' pairs; hi then lo (one k-step, 2
    /// descriptor units, on) into the n-tiles' accumulators.
    /// </summary>
    private static void Emulate(ref FragmentC low, ref FragmentC high, in BiasTerms keys0, in BiasTerms keys8, ArrayView<ushort> shared, int sharedBase, ulong hi,
        in WarpExchange exchange)
    {
        var a = new FragmentA { A0 = keys0.HalfLow, A1 = keys0.HalfHigh, A2 = keys8.HalfLow, A3 = keys8.HalfHigh };
        Wgmma.EmulateN16<Float16Mma>(ref low, ref high, a, shared, sharedBase, hi, exchange);
        Wgmma.EmulateN16<Float16Mma>(ref low, ref high, a, shared, sharedBase, hi + 2, exchange);
    }
}
