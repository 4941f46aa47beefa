using ILGPU.Runtime.Cuda;

namespace FlashAttention.Kernels.TensorCore;

/// <summary>
/// S = Q K^T issued without waiting, for the pipelined wgmma forward (<see cref="WgmmaPipelinedForwardKernel"/>):
/// the product writes PTX registers the kernel declares itself (flashS0 .. flashS31, like O's in
/// <see cref="WgmmaOutput"/>), so ILGPU copies nothing in or out while it is in flight (the copies that
/// made ptxas serialize every wgmma, warning C7514, see <see cref="Wgmma"/>). <see cref="Read{TTarget}"/>
/// waits for it and copies it into a <see cref="Tile8"/>. Off CUDA the product is computed at issue
/// into the caller's <c>pending</c> tile, and read from there.
/// </summary>
internal static class WgmmaPipeline
{
    /// <summary>The registers S lives in while its product is in flight.</summary>
    private const string Declaration = ".reg .f32 flashS<32>;";

    private const string Registers = "{flashS0, flashS1, flashS2, flashS3, flashS4, flashS5, flashS6, flashS7, flashS8, flashS9, flashS10, flashS11, flashS12, flashS13, flashS14, flashS15, flashS16, flashS17, flashS18, flashS19, flashS20, flashS21, flashS22, flashS23, flashS24, flashS25, flashS26, flashS27, flashS28, flashS29, flashS30, flashS31}";

    // z is false: the first k-step overwrites S (D = A B), every later one accumulates into it.
    private const string Open = "{ .reg .pred p, z; .reg .b32 one; .reg .b64 a, b; mov.b32 one, 1; setp.ne.b32 p, one, 0; setp.eq.b32 z, one, 0; " +
                                "wgmma.fence.sync.aligned; mov.b64 a, %0; mov.b64 b, %1; ";
    private const string F16 = "wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 " + Registers + ", a, b, ";
    private const string Bf16 = "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 " + Registers + ", a, b, ";
    private const string Overwrite = "z, 1, 1, 0, 0; ";
    private const string Accumulate = "p, 1, 1, 0, 0; ";

    // A k-step of 16 dims is 2 descriptor units along the swizzled row; the next 64 dims start 512 units after a block's first step.
    private const string Step = "add.s64 a, a, 2; add.s64 b, b, 2; ";
    private const string NextBlock = "add.s64 a, a, 506; add.s64 b, b, 506; ";
    private const string FirstF16 = F16 + Overwrite + Step + F16 + Accumulate + Step + F16 + Accumulate + Step + F16 + Accumulate + NextBlock;
    private const string BlockF16 = F16 + Accumulate + Step + F16 + Accumulate + Step + F16 + Accumulate + Step + F16 + Accumulate + NextBlock;
    private const string FirstBf16 = Bf16 + Overwrite + Step + Bf16 + Accumulate + Step + Bf16 + Accumulate + Step + Bf16 + Accumulate + NextBlock;
    private const string BlockBf16 = Bf16 + Accumulate + Step + Bf16 + Accumulate + Step + Bf16 + Accumulate + Step + Bf16 + Accumulate + NextBlock;
    private const string Commit = "wgmma.commit_group.sync.aligned; }";
    private const string IssueF16D64 = Open + FirstF16 + Commit;
    private const string IssueF16D128 = Open + FirstF16 + BlockF16 + Commit;
    private const string IssueF16D192 = Open + FirstF16 + BlockF16 + BlockF16 + Commit;
    private const string IssueF16D256 = Open + FirstF16 + BlockF16 + BlockF16 + BlockF16 + Commit;
    private const string IssueBf16D64 = Open + FirstBf16 + Commit;
    private const string IssueBf16D128 = Open + FirstBf16 + BlockBf16 + Commit;
    private const string IssueBf16D192 = Open + FirstBf16 + BlockBf16 + BlockBf16 + Commit;
    private const string IssueBf16D256 = Open + FirstBf16 + BlockBf16 + BlockBf16 + BlockBf16 + Commit;

    // The P V product is committed after S: waiting until at most one group is pending waits for S alone.
    private const string ReadBehindOne = "wgmma.wait_group.sync.aligned 1; mov.f32 %0, flashS0; mov.f32 %1, flashS1; mov.f32 %2, flashS2; mov.f32 %3, flashS3; mov.f32 %4, flashS4; mov.f32 %5, flashS5; mov.f32 %6, flashS6; mov.f32 %7, flashS7; mov.f32 %8, flashS8; mov.f32 %9, flashS9; mov.f32 %10, flashS10; mov.f32 %11, flashS11; mov.f32 %12, flashS12; mov.f32 %13, flashS13; mov.f32 %14, flashS14; mov.f32 %15, flashS15; mov.f32 %16, flashS16; mov.f32 %17, flashS17; mov.f32 %18, flashS18; mov.f32 %19, flashS19; mov.f32 %20, flashS20; mov.f32 %21, flashS21; mov.f32 %22, flashS22; mov.f32 %23, flashS23; mov.f32 %24, flashS24; mov.f32 %25, flashS25; mov.f32 %26, flashS26; mov.f32 %27, flashS27; mov.f32 %28, flashS28; mov.f32 %29, flashS29; mov.f32 %30, flashS30; mov.f32 %31, flashS31;";

    /// <summary>Declares S's registers: with <see cref="WgmmaOutput.Declare{TTarget}"/>, before any use in the PTX text.</summary>
    public static void Declare<TTarget>() where TTarget : struct, ITensorCoreTarget
    {
        if (default(TTarget).EmitsPtx)
            CudaAsm.Emit(Declaration);
    }

    /// <summary>
    /// Starts S = A B^T for the calling warpgroup (A 64 rows by <paramref name="dim"/> at shared element <paramref name="aOffset"/>,
    /// B 64 rows at <paramref name="bOffset"/>, as <see cref="Wgmma.Scores{TTarget, TElement}"/>) and commits it as one group.
    /// </summary>
    public static void Issue<TTarget, TElement>(ref Tile8 pending, ArrayView<ushort> shared, int sharedBase, int aOffset, int bOffset, int dim)
        where TTarget : struct, ITensorCoreTarget
        where TElement : struct, IMmaElement
    {
        ulong aStart = Swizzle128.Descriptor(sharedBase + 2 * aOffset);
        ulong bStart = Swizzle128.Descriptor(sharedBase + 2 * bOffset);
        if (!default(TTarget).EmitsPtx)
        {
            pending = default;
            Wgmma.EmulateScores<TElement>(ref pending, shared, sharedBase, aStart, bStart, dim);
            return;
        }
        Ref<ulong> a = aStart, b = bStart;
        if (default(TElement).IsBFloat16)
        {
            if (dim == 64)
                CudaAsm.EmitRef(IssueBf16D64, ref a, ref b);
            else if (dim == 128)
                CudaAsm.EmitRef(IssueBf16D128, ref a, ref b);
            else if (dim == 192)
                CudaAsm.EmitRef(IssueBf16D192, ref a, ref b);
            else
                CudaAsm.EmitRef(IssueBf16D256, ref a, ref b);
        }
        else
        {
            if (dim == 64)
                CudaAsm.EmitRef(IssueF16D64, ref a, ref b);
            else if (dim == 128)
                CudaAsm.EmitRef(IssueF16D128, ref a, ref b);
            else if (dim == 192)
                CudaAsm.EmitRef(IssueF16D192, ref a, ref b);
            else
                CudaAsm.EmitRef(IssueF16D256, ref a, ref b);
        }
    }

    /// <summary>
    /// Waits for the S issued before the last committed group (the pipelined kernel's P V product) and returns it;
    /// that last group may still be in flight.
    /// </summary>
    public static Tile8 Read<TTarget>(in Tile8 pending) where TTarget : struct, ITensorCoreTarget
    {
        if (!default(TTarget).EmitsPtx)
            return pending;
        Ref<float> d0 = 0f, d1 = 0f, d2 = 0f, d3 = 0f, d4 = 0f, d5 = 0f, d6 = 0f, d7 = 0f, d8 = 0f, d9 = 0f, d10 = 0f, d11 = 0f, d12 = 0f, d13 = 0f, d14 = 0f, d15 = 0f,
            d16 = 0f, d17 = 0f, d18 = 0f, d19 = 0f, d20 = 0f, d21 = 0f, d22 = 0f, d23 = 0f, d24 = 0f, d25 = 0f, d26 = 0f, d27 = 0f, d28 = 0f, d29 = 0f, d30 = 0f, d31 = 0f;
        CudaAsm.EmitRef(ReadBehindOne, ref d0, ref d1, ref d2, ref d3, ref d4, ref d5, ref d6, ref d7, ref d8, ref d9, ref d10, ref d11, ref d12, ref d13, ref d14, ref d15,
            ref d16, ref d17, ref d18, ref d19, ref d20, ref d21, ref d22, ref d23, ref d24, ref d25, ref d26, ref d27, ref d28, ref d29, ref d30, ref d31);
        return new Tile8
        {
            N0 = new FragmentC { C0 = d0.Value, C1 = d1.Value, C2 = d2.Value, C3 = d3.Value },
            N1 = new FragmentC { C0 = d4.Value, C1 = d5.Value, C2 = d6.Value, C3 = d7.Value },
            N2 = new FragmentC { C0 = d8.Value, C1 = d9.Value, C2 = d10.Value, C3 = d11.Value },
            N3 = new FragmentC { C0 = d12.Value, C1 = d13.Value, C2 = d14.Value, C3 = d15.Value },
            N4 = new FragmentC { C0 = d16.Value, C1 = d17.Value, C2 = d18.Value, C3 = d19.Value },
            N5 = new FragmentC { C0 = d20.Value, C1 = d21.Value, C2 = d22.Value, C3 = d23.Value },
            N6 = new FragmentC { C0 = d24.Value, C1 = d25.Value, C2 = d26.Value, C3 = d27.Value },
            N7 = new FragmentC { C0 = d28.Value, C1 = d29.Value, C2 = d30.Value, C3 = d31.Value },
        };
    }
}
