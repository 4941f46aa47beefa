using FlashAttention.Kernels.Portable;
using FlashAttention.Kernels.Launch;
using FlashAttention.Kernels.Numerics;
using FlashAttention.Tests.Support;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.OpenCL;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.OpenCL;

namespace FlashAttention.Tests;

/// <summary>
/// The kernel variants OpenCL devices take (static shared memory, float16 as raw bits when the
/// device lacks fp16), run here on the CPU accelerator, and compiled offline to OpenCL C.
/// </summary>
public class BackendVariantTests
{
    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public void OpenCL_variants_match_the_reference(bool dynamicShared, bool float16AsBits)
    {
        // Always the CPU: on a real OpenCL device the dynamic variant is the one that races.
        using var context = Context.Create(b => b.ForKernels().CPU(CPUDeviceKind.Nvidia)); // OpenCL's static tiles need the default inlining
        using var accelerator = context.CreateCPUAccelerator(0);
        using var engine = AttentionEngine.WithProfile(accelerator, new BackendProfile(dynamicShared, float16AsBits));
        var c = new ForwardCase(2, 113, 203, 4, 2, 40, Causal: true);
        c.Check<Half>(engine);
        c.Check<float>(engine);
        c.Check<BFloat16>(engine);
    }

    /// <summary>
    /// Window, ALiBi and soft cap on OpenCL's variants: float16 runs as raw bits there, through a
    /// cast of the launch parameters that must carry the mask and the score modifier along.
    /// </summary>
    [Fact]
    public void OpenCL_variants_apply_window_alibi_and_softcap()
    {
        using var context = Context.Create(b => b.ForKernels().CPU(CPUDeviceKind.Nvidia)); // OpenCL's static tiles need the default inlining
        using var accelerator = context.CreateCPUAccelerator(0);
        using var engine = AttentionEngine.WithProfile(accelerator, new BackendProfile(DynamicShared: false, Float16AsBits: true));
        new ForwardCase(1, 77, 130, 2, 1, 40, Causal: true, Window: new(24, 0), AlibiSlopes: [0.25f, 0.0625f], Softcap: 3f).Check<Half>(engine);
        new BackwardCase(1, 77, 130, 2, 1, 40, Causal: false, Window: new(16, 8), AlibiSlopes: [0.25f, 0.0625f], Softcap: 3f).Check<Half>(engine);
    }

    /// <summary>Bias and mask (a byte view read from the kernel) and dBias on OpenCL's variants, float16 as bits.</summary>
    [Fact]
    public void OpenCL_variants_apply_bias_and_mask()
    {
        using var context = Context.Create(b => b.ForKernels().CPU(CPUDeviceKind.Nvidia)); // OpenCL's static tiles need the default inlining
        using var accelerator = context.CreateCPUAccelerator(0);
        using var engine = AttentionEngine.WithProfile(accelerator, new BackendProfile(DynamicShared: false, Float16AsBits: true));
        new ForwardCase(2, 45, 66, 2, 1, 40, Causal: true, BiasDims: [1, 2], MaskDims: [2, 1]).Check<Half>(engine);
        new BackwardCase(2, 45, 66, 2, 1, 40, Causal: false, BiasDims: [2, 1], MaskDims: [1, 2], BiasGradient: true).Check<Half>(engine);
    }

    [Fact]
    public void Float16_bits_widen_exactly_for_every_pattern()
    {
        var ops = default(Float16BitsOps);
        for (int bits = 0; bits < 65536; bits++)
        {
            float expected = (float)BitConverter.UInt16BitsToHalf((ushort)bits);
            float actual = ops.ToFloat((ushort)bits);
            if (float.IsNaN(expected))
                float.IsNaN(actual).Should().BeTrue($"0x{bits:X4} is NaN");
            else
                BitConverter.SingleToInt32Bits(actual).Should().Be(BitConverter.SingleToInt32Bits(expected), $"0x{bits:X4}");
        }
    }

    [Fact]
    public void Float16_bits_round_to_nearest_even_like_the_runtime()
    {
        var ops = default(Float16BitsOps);
        var rng = new Random(5);
        var samples = new List<float> { 0f, -0f, 65504f, 65519.99f, 65520f, 1e9f, float.PositiveInfinity, float.NegativeInfinity,
            6.1035156e-5f, 5.9604645e-8f, 2.9802322e-8f, 2.9802326e-8f, 1.0009766f, 1.00048828125f, 1.00146484375f };
        for (int i = 0; i < 200_000; i++)
        {
            // Every float32 bit pattern region: random sign, exponent and mantissa.
            samples.Add(BitConverter.Int32BitsToSingle(rng.Next() ^ (rng.Next(2) << 31)));
        }
        foreach (float f in samples)
        {
            ushort expected = BitConverter.HalfToUInt16Bits((System.Half)f);
            ushort actual = ops.FromFloat(f);
            if (float.IsNaN(f))
                ((actual & 0x7C00) == 0x7C00 && (actual & 0x3FF) != 0).Should().BeTrue($"{f} stays NaN");
            else
                actual.Should().Be(expected, $"float bits 0x{BitConverter.SingleToInt32Bits(f):X8}");
        }
    }

    [Theory]
    [InlineData(typeof(float))]
    [InlineData(typeof(ushort))]
    [InlineData(typeof(BFloat16))]
    public void Portable_forward_compiles_to_OpenCL_C(Type storage)
    {
        using var context = Context.Create(b => b.EnableAlgorithms().Optimize(OptimizationLevel.O2));
        var backend = new CLBackend(context, new CLCapabilityContext(false, false, false, false, false), CLDeviceVendor.Other, CLCVersion.CL20);
        var method = KernelCatalog.PortableForward(storage, 64, 32, 32, dynamicShared: false);
        var kernel = (CLCompiledKernel)backend.Compile(EntryPointDescription.FromExplicitlyGroupedKernel(method), KernelSpecialization.Empty);
        kernel.Source.Should().Contain("kernel void").And.Contain("barrier")
            .And.MatchRegex(@"local float \w+\[\d+\]", "tiles are a static local array")
            .And.NotContain("dynamic_shared_memory", "a program-scope pointer to it races between work-groups on PoCL");
    }

    /// <summary>
    /// v4 compiles to OpenCL C with its tiles in one static local array whose size is the
    /// layout's constant (the split count of S folds at compile time), at a tile where S is split.
    /// </summary>
    [Theory]
    [InlineData(typeof(ushort), 128, 64, 32)]
    [InlineData(typeof(float), 64, 64, 32)]
    [InlineData(typeof(BFloat16), 256, 32, 32)]
    public void Parallel_forward_compiles_to_OpenCL_C(Type storage, int dim, int br, int bc)
    {
        using var context = Context.Create(b => b.EnableAlgorithms().Optimize(OptimizationLevel.O2));
        var backend = new CLBackend(context, new CLCapabilityContext(false, false, false, false, false), CLDeviceVendor.Other, CLCVersion.CL20);
        var method = KernelCatalog.PortableForward(storage, dim, br, bc, dynamicShared: false, variant: ForwardVariant.V4);
        var kernel = (CLCompiledKernel)backend.Compile(EntryPointDescription.FromExplicitlyGroupedKernel(method), KernelSpecialization.Empty);
        int floats = new ParallelForwardLayout(dim, br, bc).TotalFloats;
        kernel.Source.Should().Contain("kernel void").And.Contain("barrier")
            .And.MatchRegex($@"local float \w+\[{floats}\]", "the tiles are one static local array of the layout's size")
            .And.NotContain("dynamic_shared_memory", "a program-scope pointer to it races between work-groups on PoCL");
    }

    /// <summary>
    /// The dQ pass (which reads the bias and the byte mask and writes dBias) and the dBias reduction
    /// compile to OpenCL C with no double: OpenCL devices need not support fp64.
    /// </summary>
    [Fact]
    public void Bias_kernels_compile_to_OpenCL_C_without_double()
    {
        using var context = Context.Create(b => b.EnableAlgorithms().Optimize(OptimizationLevel.O2));
        var backend = new CLBackend(context, new CLCapabilityContext(false, false, false, false, false), CLDeviceVendor.Other, CLCVersion.CL20);
        var query = KernelCatalog.PortableBackwardQuery(typeof(float), 64, 32, 32, dynamicShared: false);
        var dq = (CLCompiledKernel)backend.Compile(EntryPointDescription.FromExplicitlyGroupedKernel(query), KernelSpecialization.Empty);
        var reduce = (CLCompiledKernel)backend.Compile(
            EntryPointDescription.FromImplicitlyGroupedKernel(typeof(BiasGradientReduceKernel).GetMethod(nameof(BiasGradientReduceKernel.Run))!),
            KernelSpecialization.Empty);
        foreach (var kernel in new[] { dq, reduce })
            kernel.Source.Should().Contain("kernel void").And.NotContain("double");
    }
}
