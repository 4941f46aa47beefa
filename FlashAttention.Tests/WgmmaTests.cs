using FlashAttention.Kernels.Launch;
using FlashAttention.Kernels.TensorCore;
using FlashAttention.Tests.Support;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime.Cuda;

namespace FlashAttention.Tests;

/// <summary>
/// Hopper's wgmma building blocks: the 128-byte swizzle layout and its descriptors, and the two
/// products of the forward (S = Q K^T from shared tiles, O = P V with P in registers) against a
/// plain product, on an H100 as sm_90a PTX and elsewhere through the emulation.
/// </summary>
public class WgmmaTests
{
    [Fact]
    public void Swizzle_layout_is_a_permutation_within_each_64_x_64_block()
    {
        foreach (int dim in new[] { 64, 128, 256 })
        {
            var seen = new bool[128 * dim];
            for (int row = 0; row < 128; row++)
            for (int col = 0; col < dim; col++)
            {
                int offset = Swizzle128.Offset(row, col, dim);
                seen[offset].Should().BeFalse($"({row}, {col}) at dim {dim} lands on a used element");
                seen[offset] = true;
                (offset / Swizzle128.BlockElements).Should().Be((row / 64) * (dim / 64) + col / 64);
                // Chunks of 8 elements stay whole: 16-byte copies need them contiguous.
                (offset % 8).Should().Be(col % 8);
            }
        }
    }

    [Fact]
    public void Descriptor_decodes_back_to_the_layout()
    {
        // The tensor cores see element (mn, k) of a K-major operand at the swizzled address the layout stores it at,
        // from a block base and from k-steps 32 bytes along the row (sharedBase 1024-aligned, as the kernels make it).
        const int sharedBase = 2048;
        for (int step = 0; step < 4; step++)
        {
            ulong d = Swizzle128.Descriptor(sharedBase + 2 * Swizzle128.BlockElements + 32 * step);
            for (int mn = 0; mn < 64; mn++)
            for (int k = 0; k < 16; k++)
                Swizzle128.KMajor(d, sharedBase, mn, k).Should().Be(Swizzle128.BlockElements + Swizzle128.Offset(mn, 16 * step + k, 64));
        }
        // MN-major (V): element (dim n, key k) of a 16-key step that starts 16 rows into the block.
        ulong v = Swizzle128.Descriptor(sharedBase + 2 * 16 * 64);
        for (int n = 0; n < 64; n++)
        for (int k = 0; k < 16; k++)
            Swizzle128.MnMajor(v, sharedBase, n, k).Should().Be(Swizzle128.Offset(16 + k, n, 64));
        // A V tile 128 dims wide read whole (O += P V as one m64n128 product): its second 64-dim block lies one block on (the leading offset).
        ulong wide = Swizzle128.Descriptor(sharedBase + 2 * 16 * 64, leadingBytes: 2 * Swizzle128.BlockElements);
        for (int n = 0; n < 128; n++)
        for (int k = 0; k < 16; k++)
            Swizzle128.MnMajor(wide, sharedBase, n, k).Should().Be(Swizzle128.Offset(16 + k, n, 128));
    }

    [Fact]
    public void Products_match_a_plain_product()
    {
        var engine = TestDevice.WgmmaEngine;
        var accelerator = engine.Accelerator;
        var rng = new RandomTensors(7);
        var q = rng.Array<Half>(64 * 64);
        var k = rng.Array<Half>(64 * 64);
        var v = rng.Array<Half>(64 * 64);
        using var dq = accelerator.Allocate1D(Bits(q));
        using var dk = accelerator.Allocate1D(Bits(k));
        using var dv = accelerator.Allocate1D(Bits(v));
        using var ds = accelerator.Allocate1D<float>(64 * 64);
        using var dout = accelerator.Allocate1D<float>(64 * 64);
        Poison(ds, dout);

        var kernel = Load(accelerator);
        var config = new KernelConfig(1, 128, SharedMemoryConfig.RequestDynamic<ushort>(3 * Swizzle128.BlockElements + Swizzle128.GroupBytes / 2));
        kernel(accelerator.DefaultStream, config, dq.View, dk.View, dv.View, ds.View, dout.View);
        accelerator.Synchronize();

        var s = ds.GetAsArray1D();
        var o = dout.GetAsArray1D();
        for (int i = 0; i < 64; i++)
        for (int j = 0; j < 64; j++)
        {
            double expected = 0;
            for (int d = 0; d < 64; d++)
                expected += (double)(float)q[i * 64 + d] * (float)k[j * 64 + d];
            s[i * 64 + j].Should().BeApproximately((float)expected, 1e-3f, $"S[{i}][{j}]");
        }
        for (int i = 0; i < 64; i++)
        for (int n = 0; n < 64; n++)
        {
            // P is S narrowed to fp16 as the kernel narrows it, from the kernel's own S, so only the product is judged;
            // the tolerance covers a last-bit difference in that narrowing (a misplaced row, key or dim is off by O(1)).
            double expected = 0;
            for (int j = 0; j < 64; j++)
                expected += (double)(float)(Half)s[i * 64 + j] * (float)v[j * 64 + n];
            o[i * 64 + n].Should().BeApproximately((float)expected, 1e-2f * (1 + Math.Abs((float)expected)), $"O[{i}][{n}]");
        }
    }

    [Theory]
    [InlineData(64, 2)]
    [InlineData(128, 2)]
    [InlineData(256, 0)] // 193 KB per group: one group per SM, so no launch bounds
    public void Hopper_default_is_two_warpgroups_bounded_to_two_groups_per_SM_where_two_fit(int dim, int groups)
    {
        const int h100 = 232448; // the H100's opt-in shared memory per group (227 KB)
        var tile = TensorCoreTile.Choose(dim, h100, causal: false, wgmma: true);
        tile.Should().Be(new TensorCoreTile(8, groups, Wgmma: true));
        TensorCoreTile.Choose(dim, h100, causal: true, wgmma: true).Should().Be(tile);
        TensorCoreTile.Choose(dim, h100).Wgmma.Should().BeFalse("devices without wgmma keep mma.sync");
        TensorCoreTile.Choose(dim, h100, scoreTensors: true, wgmma: true).Should().Be(new TensorCoreTile(8, Wgmma: true), "bias and mask tensors need registers");
        foreach (bool causal in new[] { false, true })
            TensorCoreTile.Choose(dim, h100, causal, wgmma: true, dropout: true).Should().Be(dim <= 128
                ? TensorCoreTile.Choose(dim, h100) : new TensorCoreTile(8, Wgmma: true), "dropout runs faster on mma.sync's 32-row warps, causal or not");
        TensorCoreTile.Choose(dim, h100, scoreTensors: true, wgmma: true, dropout: true).Should().Be(new TensorCoreTile(8, Wgmma: true), "dropout with a bias stays on wgmma");
    }

    [Theory]
    [InlineData(64, false)]
    [InlineData(128, true)]
    [InlineData(192, false)]
    public void A_bias_alone_at_d128_takes_three_pipelined_warpgroups_bounded_to_one_group_per_SM(int dim, bool three)
    {
        const int h100 = 232448;
        var tile = TensorCoreTile.Choose(dim, h100, causal: false, scoreTensors: true, wgmma: true, biasAlone: true);
        tile.Should().Be(three ? new TensorCoreTile(12, 1, Wgmma: true, Pipelined: true) : new TensorCoreTile(8, Wgmma: true));
        var half = TensorCoreTile.Choose(dim, h100, causal: true, scoreTensors: true, wgmma: true, biasAlone: true, halfBias: true);
        half.Should().Be(three ? tile : new TensorCoreTile(8, dim == 64 ? 2 : 0, Wgmma: true), "a float16 bias alone fits the bounds where two groups fit (d 64)");
        if (three)
        {
            tile.Br.Should().Be(192);
            TensorCoreTile.Choose(dim, h100, causal: false, scoreTensors: true, wgmma: false, biasAlone: true).Wgmma.Should().BeFalse("mma.sync has no 12-warp tile");
        }
        TensorCoreTile.Choose(dim, h100, scoreTensors: true, wgmma: true, halfBias: true).Should().Be(new TensorCoreTile(8, Wgmma: true),
            "a float16 bias beside other score variants is widened and read by the general mode, unbounded");
    }

    [Fact]
    public void Twelve_warps_are_a_wgmma_tile_only()
    {
        var act = () => new TensorCoreTile(12).Validate(128, 232448, "options");
        act.Should().Throw<ArgumentException>().WithParameterName("options").WithMessage("*Warps is 12; expected one of 4, 8 (12 only with Wgmma)*");
        new TensorCoreTile(12, 1, Wgmma: true).Validate(128, 232448, "options");
        var tooMany = () => new TensorCoreTile(16, Wgmma: true).Validate(128, 232448, "options");
        tooMany.Should().Throw<ArgumentException>().WithMessage("*Warps is 16; expected one of 4, 8, 12*");
    }

    [Theory]
    [InlineData(32, 64)]
    [InlineData(16, 32)]
    public void A_wgmma_tile_refuses_other_row_or_key_counts(int warpRows, int bc)
    {
        var act = () => new TensorCoreTile(4, WarpRows: warpRows, Bc: bc, Wgmma: true).Validate(128, 232448, "options");
        act.Should().Throw<ArgumentException>().WithParameterName("options")
            .WithMessage($"*Wgmma needs WarpRows=16 and Bc=64*got WarpRows={warpRows} Bc={bc}*");
    }

    [Fact]
    public void Retargeting_touches_only_the_target_line()
    {
        const string ptx = ".version 8.8\n.target sm_80\n.address_size 64\n// .target sm_80 in a comment\n";
        PtxTarget.Retarget(ptx).Should().Be(".version 8.8\n.target sm_90a\n.address_size 64\n// .target sm_80 in a comment\n");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Forward_compiles_to_wgmma_for_sm_90a(bool bfloat16)
    {
        using var context = Context.Create(b => b.EnableAlgorithms().Optimize(OptimizationLevel.O2));
        using var backend = new PTXBackend(context, new CudaCapabilityContext(CudaArchitecture.SM_80), CudaArchitecture.SM_80,
            CudaInstructionSet.ISA_80, null);
        var method = KernelCatalog.TensorCoreForward(nativePtx: true, bfloat16, 128, warps: 4, wgmma: true);
        var compiled = (PTXCompiledKernel)backend.Compile(EntryPointDescription.FromExplicitlyGroupedKernel(method), KernelSpecialization.Empty);
        PtxTarget.ForWgmma(compiled).Should().BeTrue();
        string type = bfloat16 ? "bf16" : "f16";
        compiled.PTXAssembly.Should().Contain(".target sm_90a")
            .And.Contain($"wgmma.mma_async.sync.aligned.m64n64k16.f32.{type}.{type}")     // S = Q K^T
            .And.Contain($"wgmma.mma_async.sync.aligned.m64n128k16.f32.{type}.{type}")    // O += P V over the whole head dim
            .And.Contain(".reg .f32 flashO<128>;")
            .And.Contain("wgmma.fence.sync.aligned").And.Contain("wgmma.wait_group.sync.aligned 0")
            .And.Contain("fence.proxy.async.shared::cta")
            .And.Contain("cp.async.cg.shared.global")
            .And.NotContain("mma.sync").And.NotContain("ldmatrix");
    }

    private static Action<AcceleratorStream, KernelConfig, ArrayView<ushort>, ArrayView<ushort>, ArrayView<ushort>, ArrayView<float>, ArrayView<float>>
        Load(Accelerator accelerator)
    {
        var method = typeof(WgmmaProbeKernel).GetMethod(nameof(WgmmaProbeKernel.Run))!.MakeGenericMethod(
            KernelCatalog.Target(accelerator is CudaAccelerator, wgmma: true));
        if (accelerator is CudaAccelerator cuda)
        {
            var compiled = (PTXCompiledKernel)cuda.Backend.Compile(EntryPointDescription.FromExplicitlyGroupedKernel(method), KernelSpecialization.Empty);
            PtxTarget.ForWgmma(compiled);
            return accelerator.LoadKernel(compiled).CreateLauncherDelegate<Action<AcceleratorStream, KernelConfig, ArrayView<ushort>, ArrayView<ushort>,
                ArrayView<ushort>, ArrayView<float>, ArrayView<float>>>();
        }
        var launcher = accelerator.LoadKernel(method.CreateDelegate<Action<ArrayView<ushort>, ArrayView<ushort>, ArrayView<ushort>, ArrayView<float>, ArrayView<float>>>());
        return (stream, config, a, b, c, d, e) => launcher(stream, config, a, b, c, d, e);
    }

    private static void Poison(MemoryBuffer1D<float, Stride1D.Dense> s, MemoryBuffer1D<float, Stride1D.Dense> o)
    {
        var nan = Enumerable.Repeat(float.NaN, 64 * 64).ToArray();
        s.CopyFromCPU(nan);
        o.CopyFromCPU(nan);
    }

    private static ushort[] Bits(Half[] values) => System.Runtime.InteropServices.MemoryMarshal.Cast<Half, ushort>(values).ToArray();
}
