using FlashAttention.Kernels.Launch;
using FlashAttention.Tests.Support;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.OpenCL;
using ILGPU.Backends.PTX;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;

namespace FlashAttention.Tests;

/// <summary>
/// The decode kernels in the variants other backends take: OpenCL's (static shared memory, float16 as
/// raw bits) run on the CPU accelerator, and every decode kernel compiled offline to OpenCL C and PTX.
/// </summary>
public class DecodeBackendVariantTests
{
    /// <summary>OpenCL's variant: tiles in static shared memory, float16 as raw bits (PoCL has no fp16).</summary>
    [Fact]
    public void OpenCL_variant_matches_the_reference()
    {
        using var context = Context.Create(b => b.ForKernels().CPU(CPUDeviceKind.Nvidia)); // OpenCL's static tiles need the default inlining
        using var accelerator = context.CreateCPUAccelerator(0);
        using var engine = AttentionEngine.WithProfile(accelerator, new BackendProfile(DynamicShared: false, Float16AsBits: true));
        new DecodeCase([113, 30], 160, 3, 8, 2, 64, Causal: true, Splits: 3, PageSize: 16, SeqNew: 2).Check<Half>(engine);
        new DecodeCase([70], 80, 1, 4, 1, 128, Causal: false, Splits: 1).Check<float>(engine);
    }

    [Theory]
    [InlineData(typeof(float))]
    [InlineData(typeof(ushort))]
    public void Decode_kernels_compile_to_OpenCL_C(Type storage)
    {
        using var context = Context.Create(b => b.EnableAlgorithms().Optimize(OptimizationLevel.O2));
        var backend = new CLBackend(context, new CLCapabilityContext(false, false, false, false, false), CLDeviceVendor.Other, CLCVersion.CL20);
        string Compile(System.Reflection.MethodInfo method) =>
            ((CLCompiledKernel)backend.Compile(EntryPointDescription.FromExplicitlyGroupedKernel(method), KernelSpecialization.Empty)).Source;

        Compile(KernelCatalog.Decode(storage, 128, 32, 4, dynamicShared: false)).Should().Contain("barrier")
            .And.MatchRegex(@"local float \w+\[\d+\]", "tiles are a static local array")
            .And.NotContain("dynamic_shared_memory");
        Compile(KernelCatalog.PartialMerge(storage)).Should().Contain("kernel void");
        Compile(KernelCatalog.KvAppend(storage)).Should().Contain("kernel void");
        Compile(KernelCatalog.PartialFold).Should().Contain("kernel void");
    }

    /// <summary>On CUDA the cache is read with 16-byte vector loads and nothing spills to local memory.</summary>
    [Theory]
    [InlineData(typeof(Half), 128, 4)]
    [InlineData(typeof(Half), 128, 16)]
    [InlineData(typeof(float), 256, 8)]
    public void Decode_kernel_compiles_to_PTX_with_vector_loads(Type storage, int dim, int rows)
    {
        using var context = Context.Create(b => b.EnableAlgorithms().Optimize(OptimizationLevel.O2));
        var arch = CudaArchitecture.SM_90;
        using var backend = new PTXBackend(context, new CudaCapabilityContext(arch), arch, CudaInstructionSet.ISA_80, null);
        var ptx = ((PTXCompiledKernel)backend.Compile(
            EntryPointDescription.FromExplicitlyGroupedKernel(KernelCatalog.Decode(storage, dim, Kernels.Portable.DecodeLayout.TileKeys(dim, rows), rows)),
            KernelSpecialization.Empty)).PTXAssembly;
        ptx.Should().Contain("ld.global.v4", "K and V are read as 16-byte vectors").And.Contain("ld.shared.v4.f32")
            .And.NotContain("ld.local").And.NotContain("st.local");
    }
}
