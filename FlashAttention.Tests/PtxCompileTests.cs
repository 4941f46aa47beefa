using FlashAttention.Kernels.Launch;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime.Cuda;

namespace FlashAttention.Tests;

/// <summary>
/// Every kernel compiles offline to PTX for sm_80 and sm_90 without a GPU, so a kernel that stops
/// compiling for NVIDIA fails CI here.
/// </summary>
public class PtxCompileTests : IDisposable
{
    private readonly Context context = Context.Create(b => b.EnableAlgorithms().Optimize(OptimizationLevel.O2));

    public void Dispose() => context.Dispose();

    public static TheoryData<string, int, int, int> PortableForwardKernels()
    {
        var data = new TheoryData<string, int, int, int>();
        foreach (int dim in TileConfig.CompiledHeadDims)
        {
            var tile = TileConfig.Choose(dim, DeviceLimits.CpuSharedMemoryPerGroup);
            data.Add("float16", dim, tile.Br, tile.Bc);
        }
        data.Add("float32", 128, 64, 32);
        data.Add("bfloat16", 128, 64, 32);
        data.Add("bfloat16", 64, 8, 8);
        return data;
    }

    [Theory]
    [MemberData(nameof(PortableForwardKernels))]
    public void Portable_forward_compiles_to_ptx(string dtype, int dim, int br, int bc)
    {
        var element = dtype switch { "float32" => typeof(float), "float16" => typeof(Half), _ => typeof(BFloat16) };
        var method = KernelCatalog.PortableForward(element, dim, br, bc);
        foreach (var (arch, isa) in new[] { (CudaArchitecture.SM_80, CudaInstructionSet.ISA_80), (CudaArchitecture.SM_90, CudaInstructionSet.ISA_80) })
        {
            using var backend = new PTXBackend(context, new CudaCapabilityContext(arch), arch, isa, null);
            var kernel = (PTXCompiledKernel)backend.Compile(EntryPointDescription.FromExplicitlyGroupedKernel(method), KernelSpecialization.Empty);
            string ptx = kernel.PTXAssembly;
            ptx.Should().Contain(".entry", $"{arch}");
            ptx.Should().Contain("bar.sync", "the kernel synchronises its group between tile phases");
            ptx.Should().Contain("ex2.approx", "the online softmax exponentiates with exp2");
            ptx.Should().Contain("__dyn_shared_alloca", "tiles live in dynamic shared memory");
        }
    }
}
