using ILGPU.Runtime.Cuda;

namespace FlashAttention.Kernels.TensorCore;

/// <summary>
/// Hopper's warpgroup matrix product (wgmma.mma_async, sm_90a) for the tensor-core forward: the four
/// warps of a warpgroup multiply a 64-row block at once, operands read by the tensor cores straight
/// from the swizzled shared tiles (<see cref="Swizzle128"/>) through matrix descriptors. This is
/// S = Q K^T; O += P V, with P from registers, is <see cref="WgmmaOutput"/>. The accumulator of an
/// m64n64 product is, per warp, exactly a <see cref="Tile8"/> (rows 16w + g and 16w + g + 8, columns
/// 8i + 2q and 8i + 2q + 1), so the online softmax, P's conversion and the output code of the
/// mma.sync kernel serve unchanged.
/// <para>
/// Each call is one self-contained asm block: fence, the k-steps, commit, wait. ILGPU passes
/// accumulators in and out of an asm block through register copies; a copy that reads an
/// accumulator while its product is in flight makes ptxas serialize every wgmma of the kernel
/// (warning C7514, each HGMMA then waits for the previous: 8 % slower at d 128 on the H100), so no
/// product outlives its block and overlap comes from the other warpgroups on the SM. ILGPU takes at
/// most 44 operands per block: 32 accumulators and the two descriptors.
/// </para>
/// <para>
/// Off CUDA (<see cref="WgmmaEmulation"/>) each thread computes its own accumulator elements, reading
/// the operands through the same descriptors and the same per-step descriptor arithmetic, decoded by
/// <see cref="Swizzle128.KMajor"/> and <see cref="Swizzle128.MnMajor"/>.
/// </para>
/// </summary>
public static class Wgmma
{
    private const string Accumulators = "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}";

    // scale-d is a predicate operand: set true, so every product accumulates (S starts from zeros).
    private const string Open = "{ .reg .pred p; .reg .b32 one; .reg .b64 a, b; mov.b32 one, 1; setp.ne.b32 p, one, 0; wgmma.fence.sync.aligned; ";
    private const string Close = "wgmma.commit_group.sync.aligned; wgmma.wait_group.sync.aligned 0; }";

    // S += Q K^T, both K-major: a k-step of 16 dims is 32 bytes (2 descriptor units) along the swizzled
    // row; after four steps the next 64 dims start one 8 KB block on (512 units from the first step).
    private const string ScoreF16 = "wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 " + Accumulators + ", a, b, p, 1, 1, 0, 0; ";
    private const string ScoreBf16 = "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 " + Accumulators + ", a, b, p, 1, 1, 0, 0; ";
    private const string Step = "add.s64 a, a, 2; add.s64 b, b, 2; ";
    private const string NextBlock = "add.s64 a, a, 506; add.s64 b, b, 506; ";
    private const string Block64F16 = ScoreF16 + Step + ScoreF16 + Step + ScoreF16 + Step + ScoreF16 + NextBlock;
    private const string Block64Bf16 = ScoreBf16 + Step + ScoreBf16 + Step + ScoreBf16 + Step + ScoreBf16 + NextBlock;
    private const string Start = Open + "mov.b64 a, %32; mov.b64 b, %33; ";
    private const string ScoresF16D64 = Start + Block64F16 + Close;
    private const string ScoresF16D128 = Start + Block64F16 + Block64F16 + Close;
    private const string ScoresF16D192 = Start + Block64F16 + Block64F16 + Block64F16 + Close;
    private const string ScoresF16D256 = Start + Block64F16 + Block64F16 + Block64F16 + Block64F16 + Close;
    private const string ScoresBf16D64 = Start + Block64Bf16 + Close;
    private const string ScoresBf16D128 = Start + Block64Bf16 + Block64Bf16 + Close;
    private const string ScoresBf16D192 = Start + Block64Bf16 + Block64Bf16 + Block64Bf16 + Close;
    private const string ScoresBf16D256 = Start + Block64Bf16 + Block64Bf16 + Block64Bf16 + Block64Bf16 + Close;

    /// <summary>Descriptor units between the starts of two consecutive k-steps of S (see the asm above).</summary>
    private static int ScoreStepUnits(int step) => (step & 3) == 3 ? 506 : 2;

    /// <summary>
    /// Byte address of the dynamic shared buffer's first element in the shared window (0 off CUDA,
    /// where the emulation addresses elements from 0).
    /// </summary>
    public static int SharedBase<TTarget>() where TTarget : struct, ITensorCoreTarget
    {
        if (!default(TTarget).EmitsPtx)
            return 0;
        Ref<uint> address = 0u;
        CudaAsm.EmitRef("{ .reg .u64 t; mov.u64 t, __dyn_shared_alloca; cvt.u32.u64 %0, t; }", ref address);
        return (int)address.Value;
    }

    /// <summary>Elements to skip from the buffer's start to the first 1024-byte boundary, where the swizzled tiles must begin.</summary>
    public static int AlignedStart(int sharedBase) => ((Swizzle128.GroupBytes - (sharedBase & (Swizzle128.GroupBytes - 1))) & (Swizzle128.GroupBytes - 1)) >> 1;

    /// <summary>
    /// Makes this thread's completed ordinary and cp.async writes to shared memory visible to the
    /// tensor cores' reads (the async proxy); a barrier must follow before any warpgroup multiplies.
    /// </summary>
    public static void FenceSharedWrites<TTarget>() where TTarget : struct, ITensorCoreTarget
    {
        if (default(TTarget).EmitsPtx)
            CudaAsm.Emit("fence.proxy.async.shared::cta;");
    }

    /// <summary>
    /// acc += A B^T for the calling warpgroup: A is 64 rows by <paramref name="dim"/> (64 to 256, a
    /// multiple of 64) starting at shared element <paramref name="aOffset"/>, B 64 rows by the same dims at
    /// <paramref name="bOffset"/> (S = Q K^T: Q's 64-row block and the K tile); each warp gets its 16 rows.
    /// </summary>
    public static void Scores<TTarget, TElement>(ref Tile8 acc, ArrayView<ushort> shared, int sharedBase, int aOffset, int bOffset, int dim)
        where TTarget : struct, ITensorCoreTarget
        where TElement : struct, IMmaElement
    {
        ulong aStart = Swizzle128.Descriptor(sharedBase + 2 * aOffset);
        ulong bStart = Swizzle128.Descriptor(sharedBase + 2 * bOffset);
        if (!default(TTarget).EmitsPtx)
        {
            EmulateScores<TElement>(ref acc, shared, sharedBase, aStart, bStart, dim);
            return;
        }
        bool bf16 = default(TElement).IsBFloat16;
        Ref<ulong> a = aStart, b = bStart;
        Ref<float> d0 = acc.N0.C0, d1 = acc.N0.C1, d2 = acc.N0.C2, d3 = acc.N0.C3,
            d4 = acc.N1.C0, d5 = acc.N1.C1, d6 = acc.N1.C2, d7 = acc.N1.C3,
            d8 = acc.N2.C0, d9 = acc.N2.C1, d10 = acc.N2.C2, d11 = acc.N2.C3,
            d12 = acc.N3.C0, d13 = acc.N3.C1, d14 = acc.N3.C2, d15 = acc.N3.C3,
            d16 = acc.N4.C0, d17 = acc.N4.C1, d18 = acc.N4.C2, d19 = acc.N4.C3,
            d20 = acc.N5.C0, d21 = acc.N5.C1, d22 = acc.N5.C2, d23 = acc.N5.C3,
            d24 = acc.N6.C0, d25 = acc.N6.C1, d26 = acc.N6.C2, d27 = acc.N6.C3,
            d28 = acc.N7.C0, d29 = acc.N7.C1, d30 = acc.N7.C2, d31 = acc.N7.C3;
        if (bf16)
        {
            if (dim == 64)
                CudaAsm.EmitRef(ScoresBf16D64, ref d0, ref d1, ref d2, ref d3, ref d4, ref d5, ref d6, ref d7, ref d8, ref d9, ref d10, ref d11, ref d12, ref d13, ref d14, ref d15, ref d16, ref d17, ref d18, ref d19, ref d20, ref d21, ref d22, ref d23, ref d24, ref d25, ref d26, ref d27, ref d28, ref d29, ref d30, ref d31, ref a, ref b);
            else if (dim == 128)
                CudaAsm.EmitRef(ScoresBf16D128, ref d0, ref d1, ref d2, ref d3, ref d4, ref d5, ref d6, ref d7, ref d8, ref d9, ref d10, ref d11, ref d12, ref d13, ref d14, ref d15, ref d16, ref d17, ref d18, ref d19, ref d20, ref d21, ref d22, ref d23, ref d24, ref d25, ref d26, ref d27, ref d28, ref d29, ref d30, ref d31, ref a, ref b);
            else if (dim == 192)
                CudaAsm.EmitRef(ScoresBf16D192, ref d0, ref d1, ref d2, ref d3, ref d4, ref d5, ref d6, ref d7, ref d8, ref d9, ref d10, ref d11, ref d12, ref d13, ref d14, ref d15, ref d16, ref d17, ref d18, ref d19, ref d20, ref d21, ref d22, ref d23, ref d24, ref d25, ref d26, ref d27, ref d28, ref d29, ref d30, ref d31, ref a, ref b);
            else
                CudaAsm.EmitRef(ScoresBf16D256, ref d0, ref d1, ref d2, ref d3, ref d4, ref d5, ref d6, ref d7, ref d8, ref d9, ref d10, ref d11, ref d12, ref d13, ref d14, ref d15, ref d16, ref d17, ref d18, ref d19, ref d20, ref d21, ref d22, ref d23, ref d24, ref d25, ref d26, ref d27, ref d28, ref d29, ref d30, ref d31, ref a, ref b);
        }
        else
        {
            if (dim == 64)
                CudaAsm.EmitRef(ScoresF16D64, ref d0, ref d1, ref d2, ref d3, ref d4, ref d5, ref d6, ref d7, ref d8, ref d9, ref d10, ref d11, ref d12, ref d13, ref d14, ref d15, ref d16, ref d17, ref d18, ref d19, ref d20, ref d21, ref d22, ref d23, ref d24, ref d25, ref d26, ref d27, ref d28, ref d29, ref d30, ref d31, ref a, ref b);
            else if (dim == 128)
                CudaAsm.EmitRef(ScoresF16D128, ref d0, ref d1, ref d2, ref d3, ref d4, ref d5, ref d6, ref d7, ref d8, ref d9, ref d10, ref d11, ref d12, ref d13, ref d14, ref d15, ref d16, ref d17, ref d18, ref d19, ref d20, ref d21, ref d22, ref d23, ref d24, ref d25, ref d26, ref d27, ref d28, ref d29, ref d30, ref d31, ref a, ref b);
            else if (dim == 192)
                CudaAsm.EmitRef(ScoresF16D192, ref d0, ref d1, ref d2, ref d3, ref d4, ref d5, ref d6, ref d7, ref d8, ref d9, ref d10, ref d11, ref d12, ref d13, ref d14, ref d15, ref d16, ref d17, ref d18, ref d19, ref d20, ref d21, ref d22, ref d23, ref d24, ref d25, ref d26, ref d27, ref d28, ref d29, ref d30, ref d31, ref a, ref b);
            else
                CudaAsm.EmitRef(ScoresF16D256, ref d0, ref d1, ref d2, ref d3, ref d4, ref d5, ref d6, ref d7, ref d8, ref d9, ref d10, ref d11, ref d12, ref d13, ref d14, ref d15, ref d16, ref d17, ref d18, ref d19, ref d20, ref d21, ref d22, ref d23, ref d24, ref d25, ref d26, ref d27, ref d28, ref d29, ref d30, ref d31, ref a, ref b);
        }
        acc.N0.C0 = d0.Value;
        acc.N0.C1 = d1.Value;
        acc.N0.C2 = d2.Value;
        acc.N0.C3 = d3.Value;
        acc.N1.C0 = d4.Value;
        acc.N1.C1 = d5.Value;
        acc.N1.C2 = d6.Value;
        acc.N1.C3 = d7.Value;
        acc.N2.C0 = d8.Value;
        acc.N2.C1 = d9.Value;
        acc.N2.C2 = d10.Value;
        acc.N2.C3 = d11.Value;
        acc.N3.C0 = d12.Value;
        acc.N3.C1 = d13.Value;
        acc.N3.C2 = d14.Value;
        acc.N3.C3 = d15.Value;
        acc.N4.C0 = d16.Value;
        acc.N4.C1 = d17.Value;
        acc.N4.C2 = d18.Value;
        acc.N4.C3 = d19.Value;
        acc.N5.C0 = d20.Value;
        acc.N5.C1 = d21.Value;
        acc.N5.C2 = d22.Value;
        acc.N5.C3 = d23.Value;
        acc.N6.C0 = d24.Value;
        acc.N6.C1 = d25.Value;
        acc.N6.C2 = d26.Value;
        acc.N6.C3 = d27.Value;
        acc.N7.C0 = d28.Value;
        acc.N7.C1 = d29.Value;
        acc.N7.C2 = d30.Value;
        acc.N7.C3 = d31.Value;
    }

    /// <summary>
    /// The emulation of O += P V over 64 keys (four 16-key steps, V's descriptor 128 units on per
    /// step, as <see cref="WgmmaOutput"/>'s product) for the output dims <paramref name="nOffset"/> .. + 63 into <paramref name="acc"/>.
    /// </summary>
    internal static void EmulateProbabilitiesTimesV<TElement>(ref Tile8 acc, in ProbabilityFragments p, ArrayView<ushort> shared, int sharedBase, ulong v, int nOffset,
        in WarpExchange exchange)
        where TElement : struct, IMmaElement
    {
        EmulateProbabilities<TElement>(ref acc, p.K0, shared, sharedBase, v, nOffset, exchange);
        EmulateProbabilities<TElement>(ref acc, p.K1, shared, sharedBase, v + 128, nOffset, exchange);
        EmulateProbabilities<TElement>(ref acc, p.K2, shared, sharedBase, v + 256, nOffset, exchange);
        EmulateProbabilities<TElement>(ref acc, p.K3, shared, sharedBase, v + 384, nOffset, exchange);
    }

    /// <summary>The emulation of <see cref="Scores{TTarget, TElement}"/>: this lane's 32 elements, each a dot product over the k-steps.</summary>
    internal static void EmulateScores<TElement>(ref Tile8 acc, ArrayView<ushort> shared, int sharedBase, ulong aStart, ulong bStart, int dim)
        where TElement : struct, IMmaElement
    {
        int row = 16 * ((Group.IdxX >> 5) & 3) + (Warp.LaneIdx >> 2);
        int col = 2 * (Warp.LaneIdx & 3);
        acc.N0 = AddScores<TElement>(acc.N0, shared, sharedBase, aStart, bStart, dim, row, col);
        acc.N1 = AddScores<TElement>(acc.N1, shared, sharedBase, aStart, bStart, dim, row, col + 8);
        acc.N2 = AddScores<TElement>(acc.N2, shared, sharedBase, aStart, bStart, dim, row, col + 16);
        acc.N3 = AddScores<TElement>(acc.N3, shared, sharedBase, aStart, bStart, dim, row, col + 24);
        acc.N4 = AddScores<TElement>(acc.N4, shared, sharedBase, aStart, bStart, dim, row, col + 32);
        acc.N5 = AddScores<TElement>(acc.N5, shared, sharedBase, aStart, bStart, dim, row, col + 40);
        acc.N6 = AddScores<TElement>(acc.N6, shared, sharedBase, aStart, bStart, dim, row, col + 48);
        acc.N7 = AddScores<TElement>(acc.N7, shared, sharedBase, aStart, bStart, dim, row, col + 56);
    }

    private static FragmentC AddScores<TElement>(FragmentC c, ArrayView<ushort> shared, int sharedBase, ulong aStart, ulong bStart, int dim, int row, int col)
        where TElement : struct, IMmaElement
    {
        var e = default(TElement);
        ulong a = aStart, b = bStart;
        for (int step = 0; step < dim / 16; step++)
        {
            for (int k = 0; k < 16; k++)
            {
                float top = e.ToFloat(shared[Swizzle128.KMajor(a, sharedBase, row, k)]);
                float bottom = e.ToFloat(shared[Swizzle128.KMajor(a, sharedBase, row + 8, k)]);
                float left = e.ToFloat(shared[Swizzle128.KMajor(b, sharedBase, col, k)]);
                float right = e.ToFloat(shared[Swizzle128.KMajor(b, sharedBase, col + 1, k)]);
                c.C0 += top * left;
                c.C1 += top * right;
                c.C2 += bottom * left;
                c.C3 += bottom * right;
            }
            a += (ulong)ScoreStepUnits(step);
            b += (ulong)ScoreStepUnits(step);
        }
        return c;
    }

    /// <summary>
    /// The emulation of one 16-key step of O += P V: rows g and g + 8 of P are gathered from the four
    /// lanes of the quad that hold them (through the board, as the register operand is spread over the warp).
    /// </summary>
    private static void EmulateProbabilities<TElement>(ref Tile8 acc, in FragmentA mine, ArrayView<ushort> shared, int sharedBase, ulong v, int nOffset,
        in WarpExchange exchange)
        where TElement : struct, IMmaElement
    {
        int g = Warp.LaneIdx >> 2;
        exchange.Post(0, mine.A0);
        exchange.Post(1, mine.A1);
        exchange.Post(2, mine.A2);
        exchange.Post(3, mine.A3);
        WarpExchange.Meet();
        var f0 = Posted(exchange, 4 * g);
        var f1 = Posted(exchange, 4 * g + 1);
        var f2 = Posted(exchange, 4 * g + 2);
        var f3 = Posted(exchange, 4 * g + 3);
        WarpExchange.Meet();
        int col = nOffset + 2 * (Warp.LaneIdx & 3);
        acc.N0 = AddProducts<TElement>(acc.N0, f0, f1, f2, f3, shared, sharedBase, v, col);
        acc.N1 = AddProducts<TElement>(acc.N1, f0, f1, f2, f3, shared, sharedBase, v, col + 8);
        acc.N2 = AddProducts<TElement>(acc.N2, f0, f1, f2, f3, shared, sharedBase, v, col + 16);
        acc.N3 = AddProducts<TElement>(acc.N3, f0, f1, f2, f3, shared, sharedBase, v, col + 24);
        acc.N4 = AddProducts<TElement>(acc.N4, f0, f1, f2, f3, shared, sharedBase, v, col + 32);
        acc.N5 = AddProducts<TElement>(acc.N5, f0, f1, f2, f3, shared, sharedBase, v, col + 40);
        acc.N6 = AddProducts<TElement>(acc.N6, f0, f1, f2, f3, shared, sharedBase, v, col + 48);
        acc.N7 = AddProducts<TElement>(acc.N7, f0, f1, f2, f3, shared, sharedBase, v, col + 56);
    }

    /// <summary>The A fragment lane <paramref name="lane"/> posted.</summary>
    private static FragmentA Posted(in WarpExchange exchange, int lane) =>
        new() { A0 = exchange.Read(lane, 0), A1 = exchange.Read(lane, 1), A2 = exchange.Read(lane, 2), A3 = exchange.Read(lane, 3) };

    private static FragmentC AddProducts<TElement>(FragmentC c, in FragmentA f0, in FragmentA f1, in FragmentA f2, in FragmentA f3,
        ArrayView<ushort> shared, int sharedBase, ulong v, int col)
        where TElement : struct, IMmaElement
    {
        var e = default(TElement);
        for (int k = 0; k < 16; k++)
        {
            float top = e.ToFloat(PElement(f0, f1, f2, f3, false, k));
            float bottom = e.ToFloat(PElement(f0, f1, f2, f3, true, k));
            float left = e.ToFloat(shared[Swizzle128.MnMajor(v, sharedBase, col, k)]);
            float right = e.ToFloat(shared[Swizzle128.MnMajor(v, sharedBase, col + 1, k)]);
            c.C0 += top * left;
            c.C1 += top * right;
            c.C2 += bottom * left;
            c.C3 += bottom * right;
        }
        return c;
    }

    /// <summary>
    /// Element k of row g (<paramref name="high"/> false) or g + 8 of a 16 x 16 A fragment, from the
    /// fragments of lanes 4g .. 4g + 3: lane 4g + j holds k = 2j, 2j + 1 (A0 / A1) and 2j + 8, 2j + 9 (A2 / A3).
    /// </summary>
    private static ushort PElement(in FragmentA f0, in FragmentA f1, in FragmentA f2, in FragmentA f3, bool high, int k)
    {
        int j = (k & 7) >> 1;
        var f = j == 0 ? f0 : j == 1 ? f1 : j == 2 ? f2 : f3;
        uint word = k < 8 ? (high ? f.A1 : f.A0) : (high ? f.A3 : f.A2);
        return (ushort)(word >> (16 * (k & 1)));
    }
}
