using ILGPU.Runtime.CPU;
using FlashAttention.Kernels.Portable;
using FlashAttention.Tests.Support;

namespace FlashAttention.Tests;

/// <summary>
/// Variable-length forward (packed sequences with cu_seqlens) on both portable kernels and the
/// tensor-core kernel, each sequence against the float64 reference run on its slice alone.
/// </summary>
public class VarLenForwardTests
{
    public static TheoryData<string, VarLenCase> Portable()
    {
        var rows = new (string DType, VarLenCase Case)[]
        {
            ("float32", new VarLenCase([1, 113, 203], [1, 113, 203], 2, 2, 64, Causal: false)),
            ("float16", new VarLenCase([1, 113, 203], [70, 40, 203], 2, 1, 64, Causal: true)),     // GQA; seqlen_q > seqlen_k inside a sequence
            ("bfloat16", new VarLenCase([0, 17, 64], [5, 0, 64], 3, 1, 40, Causal: true)),         // MQA, odd head dim; empty q and empty k sequences
            ("float16", new VarLenCase([30, 0, 90], [100, 20, 45], 2, 2, 64, Causal: false) with { Window = new(20, 10), ExtraMax = 7 }),
            ("float32", new VarLenCase([40, 70], [60, 33], 2, 1, 32, Causal: true) with
                { AlibiSlopes = [0.25f, 0.0625f, 0.5f, 0.125f], Softcap = 5f, Scale = 0.9f }),        // [batch, heads_q] slopes
            ("float16", new VarLenCase([40, 70], [60, 33], 2, 2, 64, Causal: false) with { DropoutP = 0.2f, DropoutSeed = 7, DropoutOffset = 3 }),
        };
        var data = new TheoryData<string, VarLenCase>();
        foreach (var (dtype, c) in rows)
        foreach (var variant in new[] { ForwardVariant.V3, ForwardVariant.V4 })
            data.Add(dtype, c with { Kernel = KernelPath.Portable, Tile = PortableVariants.DefaultTile(c.HeadDim, variant) });
        return data;
    }

    [Theory]
    [MemberData(nameof(Portable))]
    public void Portable_kernels_match_reference_per_sequence(string dtype, VarLenCase c) => ElementTypes.Run(dtype, c, TestDevice.Engine);

    // The warp emulation is slow on the CPU: short sequences, and the tile shapes (specialisations)
    // TensorCoreForwardTests compiles already, so a full run compiles nothing more.
    // A CUDA test device (FLASH_TEST_DEVICE=cuda) also runs the rows marked false: longer sequences,
    // d 128 and 256, 8 warps, the score variants.
    public static TheoryData<string, VarLenCase> TensorCore()
    {
        var rows = new (bool Cpu, string DType, VarLenCase Case)[]
        {
            (true, "bfloat16", Tc(new VarLenCase([1, 45, 70], [1, 70, 33], 2, 1, 64, Causal: true), rows: 16, bc: 64)),
            (true, "float16", Tc(new VarLenCase([0, 17, 40], [5, 0, 40], 1, 1, 40, Causal: false) with { Window = new(8, 4) }, rows: 32, bc: 32)),
            (false, "float16", Tc(new VarLenCase([1, 113, 203, 0, 300], [1, 113, 150, 7, 333], 4, 2, 128, Causal: true), rows: 32, bc: 32)),
            (false, "bfloat16", Tc(new VarLenCase([130, 7, 260], [90, 300, 260], 2, 1, 256, Causal: false), rows: 16, bc: 64)),
            (false, "float16", Tc(new VarLenCase([129, 64, 200], [200, 64, 129], 2, 2, 64, Causal: true) with
                { AlibiSlopes = [0.25f, 0.0625f], Softcap = 5f, Window = new(50, AttentionWindow.Unbounded) }, rows: 16, bc: 64, warps: 8)),
            (false, "bfloat16", Tc(new VarLenCase([33, 65], [47, 70], 2, 1, 59, Causal: true), rows: 16, bc: 64)), // odd head dim: element copies
        };
        bool cuda = TestDevice.TensorCoreEngine.AcceleratorType == AcceleratorType.Cuda;
        var data = new TheoryData<string, VarLenCase>();
        foreach (var (cpu, dtype, c) in rows)
            if (cpu || cuda)
                data.Add(dtype, c);
        return data;
    }

    private static VarLenCase Tc(VarLenCase c, int rows, int bc, int warps = 4) =>
        c with { Kernel = KernelPath.TensorCore, TensorCoreTile = new TensorCoreTile(warps, WarpRows: rows, Bc: bc) };

    [Theory]
    [MemberData(nameof(TensorCore))]
    public void Tensor_core_kernel_matches_reference_per_sequence(string dtype, VarLenCase c) =>
        ElementTypes.Run(dtype, c, TestDevice.TensorCoreEngine);
}

/// <summary>Properties of the varlen entry points beyond accuracy: device form, padded equivalence, OpenCL's variants.</summary>
public class VarLenEntryPointTests
{
    /// <summary>
    /// Equal lengths: the varlen call is the padded call, bit for bit, and its LSE layout (each sequence's
    /// [heads_q, seqlen_q] block in turn) is the padded [batch, heads_q, seqlen_q].
    /// </summary>
    [Fact]
    public void Equal_lengths_give_the_padded_result_bitwise()
    {
        var engine = TestDevice.Engine;
        const int b = 3, n = 37, hq = 4, hkv = 2, d = 32;
        var rng = new RandomTensors(41);
        var q = rng.Bshd<float>(b, n, hq, d);
        var k = rng.Bshd<float>(b, n, hkv, d);
        var v = rng.Bshd<float>(b, n, hkv, d);
        var options = new AttentionOptions { Causal = true, ReturnLse = true, AlibiSlopes = [.. Enumerable.Range(1, b * hq).Select(i => 0.05f * i)] };
        var padded = engine.Forward(q, k, v, options);
        int[] cu = [0, n, 2 * n, 3 * n];
        var packed = engine.ForwardVarLen(HostTensor<float>.Bshd(q.Data, 1, b * n, hq, d), HostTensor<float>.Bshd(k.Data, 1, b * n, hkv, d),
            HostTensor<float>.Bshd(v.Data, 1, b * n, hkv, d), cu, cu, n, n, options);
        packed.Output.Data.Should().Equal(padded.Output.Data);
        packed.Lse.Should().Equal(padded.Lse);
    }

    /// <summary>The device form (offsets as views) launches the same work as the host form.</summary>
    [Fact]
    public void Device_form_equals_host_form()
    {
        var engine = TestDevice.Engine;
        int[] cuQ = [0, 20, 20, 51], cuK = [0, 7, 40, 66];
        const int hq = 2, hkv = 1, d = 40;
        var rng = new RandomTensors(42);
        var q = rng.Bshd<Half>(1, 51, hq, d);
        var k = rng.Bshd<Half>(1, 66, hkv, d);
        var v = rng.Bshd<Half>(1, 66, hkv, d);
        var dOut = rng.Bshd<Half>(1, 51, hq, d);
        var options = new AttentionOptions { Causal = true, ReturnLse = true, Window = new(9, 3) };
        var host = engine.ForwardVarLen(q, k, v, cuQ, cuK, 31, 33, options);
        var hostGrads = engine.BackwardVarLen(dOut, q, k, v, host.Output, host.Lse!, cuQ, cuK, 31, 33, options);

        var acc = engine.Accelerator;
        using var dq = acc.Allocate1D(q.Data);
        using var dk = acc.Allocate1D(k.Data);
        using var dv = acc.Allocate1D(v.Data);
        using var ddo = acc.Allocate1D(dOut.Data);
        using var o = acc.Allocate1D<Half>(q.Data.Length);
        using var lse = acc.Allocate1D<float>(hq * 51);
        using var gq = acc.Allocate1D<Half>(q.Data.Length);
        using var gk = acc.Allocate1D<Half>(k.Data.Length);
        using var gv = acc.Allocate1D<Half>(k.Data.Length);
        using var cq = acc.Allocate1D(cuQ);
        using var ck = acc.Allocate1D(cuK);
        DeviceTensor<Half> T(MemoryBuffer1D<Half, Stride1D.Dense> buffer, HostTensor<Half> like) => new(buffer.View, like.Layout);
        engine.ForwardVarLen(T(dq, q), T(dk, k), T(dv, v), T(o, q), lse.View, cq.View, ck.View, 31, 33, options);
        engine.BackwardVarLen(T(ddo, q), T(dq, q), T(dk, k), T(dv, v), T(o, q), lse.View, T(gq, q), T(gk, k), T(gv, k), cq.View, ck.View, 31, 33, options);
        acc.Synchronize();

        o.GetAsArray1D().Should().Equal(host.Output.Data);
        lse.GetAsArray1D().Should().Equal(host.Lse!);
        gq.GetAsArray1D().Should().Equal(hostGrads.DQ.Data);
        gk.GetAsArray1D().Should().Equal(hostGrads.DK.Data);
        gv.GetAsArray1D().Should().Equal(hostGrads.DV.Data);
    }

    /// <summary>OpenCL's variants (static shared memory, float16 as raw bits through a cast of the params that must carry the offsets).</summary>
    [Fact]
    public void OpenCL_variants_run_varlen()
    {
        using var context = Context.Create(b => b.ForKernels().CPU(CPUDeviceKind.Nvidia)); // OpenCL's static tiles need the default inlining
        using var accelerator = context.CreateCPUAccelerator(0);
        using var engine = AttentionEngine.WithProfile(accelerator,
            new Kernels.Launch.BackendProfile(DynamicShared: false, Float16AsBits: true));
        new VarLenCase([0, 17, 45], [5, 30, 20], 2, 1, 40, Causal: true).Check<Half>(engine);
        new VarLenCase([0, 17, 45], [5, 30, 20], 2, 1, 40, Causal: true, Backward: true).Check<Half>(engine);
    }
}
