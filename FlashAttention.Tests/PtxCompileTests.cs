using FlashAttention.Kernels.Portable;
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

    public static TheoryData<string, string, int> PortableBackwardKernels()
    {
        var data = new TheoryData<string, string, int>();
        foreach (string kernel in new[] { "rowdot", "keyvalue", "query" })
        foreach (var (dtype, dim) in new[] { ("float16", 64), ("bfloat16", 128), ("float32", 256) })
            data.Add(kernel, dtype, dim);
        return data;
    }

    [Theory]
    [MemberData(nameof(PortableBackwardKernels))]
    public void Portable_backward_compiles_to_ptx(string kernel, string dtype, int dim)
    {
        var element = Element(dtype);
        var tile = TileConfig.ChooseBackward(dim, DeviceLimits.CpuSharedMemoryPerGroup);
        var method = kernel switch
        {
            "rowdot" => KernelCatalog.RowDot(element),
            "keyvalue" => KernelCatalog.PortableBackwardKeyValue(element, dim, tile.Br, tile.Bc),
            _ => KernelCatalog.PortableBackwardQuery(element, dim, tile.Br, tile.Bc),
        };
        string ptx = Compile(method, CudaArchitecture.SM_90);
        ptx.Should().Contain(".entry");
        if (kernel != "rowdot")
            ptx.Should().Contain("bar.sync").And.Contain("ex2.approx", "P is recomputed with exp2");
    }

    private string Compile(System.Reflection.MethodInfo method, CudaArchitecture arch, KernelSpecialization? specialization = null)
    {
        using var backend = new PTXBackend(context, new CudaCapabilityContext(arch), arch, CudaInstructionSet.ISA_80, null);
        return ((PTXCompiledKernel)backend.Compile(EntryPointDescription.FromExplicitlyGroupedKernel(method),
            specialization ?? KernelSpecialization.Empty)).PTXAssembly;
    }

    private static Type Element(string dtype) => dtype switch { "float32" => typeof(float), "float16" => typeof(Half), _ => typeof(BFloat16) };

    [Theory]
    [MemberData(nameof(PortableForwardKernels))]
    public void Portable_forward_compiles_to_ptx(string dtype, int dim, int br, int bc)
    {
        var method = KernelCatalog.PortableForward(Element(dtype), dim, br, bc);
        foreach (var arch in new[] { CudaArchitecture.SM_80, CudaArchitecture.SM_90 })
        {
            string ptx = Compile(method, arch);
            ptx.Should().Contain(".entry", $"{arch}");
            ptx.Should().Contain("bar.sync", "the kernel synchronises its group between tile phases");
            ptx.Should().Contain("ex2.approx", "the online softmax exponentiates with exp2");
            ptx.Should().Contain("__dyn_shared_alloca", "tiles live in dynamic shared memory");
        }
    }

    public static TheoryData<string, int, int, int> ParallelForwardKernels()
    {
        var data = new TheoryData<string, int, int, int>();
        foreach (int dim in TileConfig.CompiledHeadDims)
        {
            var tile = TileConfig.Choose(dim, DeviceLimits.CpuSharedMemoryPerGroup, 1024, ForwardVariant.V4);
            data.Add("float16", dim, tile.Br, tile.Bc);
        }
        data.Add("float32", 128, 64, 64);
        data.Add("bfloat16", 64, 128, 32);
        return data;
    }

    [Theory]
    [MemberData(nameof(ParallelForwardKernels))]
    public void Parallel_forward_compiles_to_ptx(string dtype, int dim, int br, int bc)
    {
        var method = KernelCatalog.PortableForward(Element(dtype), dim, br, bc, variant: ForwardVariant.V4);
        foreach (var arch in new[] { CudaArchitecture.SM_80, CudaArchitecture.SM_90 })
        {
            string ptx = Compile(method, arch);
            ptx.Should().Contain(".entry", $"{arch}");
            ptx.Should().Contain("bar.sync", "the kernel synchronises its group between tile phases");
            ptx.Should().Contain("ex2.approx", "the online softmax exponentiates with exp2");
            ptx.Should().Contain("ld.shared.v4.f32", "the 4 x 4 blocks read shared memory 16 bytes at a time");
            ptx.Should().NotContain(".local", "register tiles must not fall back to local memory");
        }

        // On CUDA the launcher adds launch bounds for the occupancy the shared memory allows.
        int threads = TileConfig.ForwardThreads(br, dim);
        string bounded = Compile(method, CudaArchitecture.SM_90, new KernelSpecialization(threads, 3));
        bounded.Should().Contain($".maxntid {threads}").And.Contain(".minnctapersm 3");

    }
}
