using FlashAttention.Kernels.Launch;
using FlashAttention.Kernels.Portable;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime.Cuda;

namespace FlashAttention.Tests;

/// <summary>
/// The dropout draw as NVIDIA sees it (offline PTX, no GPU): the Philox multiply is a 32-bit
/// integer multiply (mul.wide.u32), nothing in float64, and the v4 kernel still keeps
/// everything in registers (no .local) with the Philox words in its locals.
/// </summary>
public class DropoutPtxTests : IDisposable
{
    private readonly Context context = Context.Create(b => b.EnableAlgorithms().Optimize(OptimizationLevel.O2));

    public void Dispose() => context.Dispose();

    [Theory]
    [InlineData("v3")]
    [InlineData("v4")]
    [InlineData("keyvalue")]
    [InlineData("query")]
    public void Philox_is_integer_only(string kernel)
    {
        const int dim = 64;
        var method = kernel switch
        {
            "v3" or "v4" => KernelCatalog.PortableForward(typeof(Half), dim,
                TileConfig.Choose(dim, DeviceLimits.CpuSharedMemoryPerGroup, 1024, kernel == "v3" ? ForwardVariant.V3 : ForwardVariant.V4).Br,
                TileConfig.Choose(dim, DeviceLimits.CpuSharedMemoryPerGroup, 1024, kernel == "v3" ? ForwardVariant.V3 : ForwardVariant.V4).Bc,
                variant: kernel == "v3" ? ForwardVariant.V3 : ForwardVariant.V4),
            "keyvalue" => KernelCatalog.PortableBackwardKeyValue(typeof(Half), dim,
                TileConfig.ChooseBackward(dim, DeviceLimits.CpuSharedMemoryPerGroup).Br, TileConfig.ChooseBackward(dim, DeviceLimits.CpuSharedMemoryPerGroup).Bc),
            _ => KernelCatalog.PortableBackwardQuery(typeof(Half), dim,
                TileConfig.ChooseBackward(dim, DeviceLimits.CpuSharedMemoryPerGroup).Br, TileConfig.ChooseBackward(dim, DeviceLimits.CpuSharedMemoryPerGroup).Bc),
        };
        using var backend = new PTXBackend(context, new CudaCapabilityContext(CudaArchitecture.SM_90), CudaArchitecture.SM_90, CudaInstructionSet.ISA_80, null);
        string ptx = ((PTXCompiledKernel)backend.Compile(EntryPointDescription.FromExplicitlyGroupedKernel(method), KernelSpecialization.Empty)).PTXAssembly;

        // (ulong)a * b on 32-bit words lowers to one mul.wide.u32 (also used for addressing, so this is
        // a sanity check, not proof; Philox_matches_known_answers and the mask tests prove the values).
        ptx.Should().Contain("mul.wide.u32", "Philox's multiply-high is a 32 x 32 -> 64-bit multiply");
        ptx.Should().NotContain(".f64", "kernels must not compute in float64");
        if (kernel == "v4")
            ptx.Should().NotContain(".local", "the Philox words stay in registers");
    }
}
