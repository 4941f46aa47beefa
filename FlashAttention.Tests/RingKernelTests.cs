using FlashAttention.Kernels.Launch;
using FlashAttention.Tests.Support;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.OpenCL;
using ILGPU.Backends.PTX;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;

namespace FlashAttention.Tests;

/// <summary>
/// The one kernel the ring adds (<c>WidenKernel</c>: stored elements to float32, replacing or adding),
/// on the CPU accelerator and compiled offline for the other backends.
/// </summary>
public class RingKernelTests
{
    [Theory]
    [InlineData("float32")]
    [InlineData("float16")]
    [InlineData("bfloat16")]
    public void Widen_replaces_then_adds(string dtype)
    {
        switch (dtype)
        {
            case "float32": Widen<float>(); break;
            case "float16": Widen<Half>(); break;
            default: Widen<BFloat16>(); break;
        }
    }

    private static void Widen<T>() where T : unmanaged
    {
        var engine = RingEngines.Take(1)[0];
        var values = new RandomTensors(3).Array<T>(300);
        using var source = engine.Accelerator.Allocate1D(values);
        using var target = engine.Accelerator.Allocate1D(Enumerable.Repeat(float.NaN, 301).ToArray());
        engine.Widen<T>(source.View, target.View, 300, add: false);
        engine.Widen<T>(source.View, target.View, 300, add: true);
        engine.Accelerator.Synchronize();
        var got = target.GetAsArray1D();
        for (int i = 0; i < 300; i++)
            got[i].Should().Be(2 * Elements.ToSingle(values[i]), $"element {i}: replaced, then added (exact in float32)");
        got[300].Should().Be(float.NaN, "nothing past the count is written");
    }

    [Theory]
    [InlineData(typeof(float))]
    [InlineData(typeof(ushort))]
    [InlineData(typeof(BFloat16))]
    public void Widen_compiles_to_OpenCL_C_and_PTX(Type storage)
    {
        using var context = Context.Create(b => b.EnableAlgorithms().Optimize(OptimizationLevel.O2));
        var cl = new CLBackend(context, new CLCapabilityContext(false, false, false, false, false), CLDeviceVendor.Other, CLCVersion.CL20);
        ((CLCompiledKernel)cl.Compile(EntryPointDescription.FromExplicitlyGroupedKernel(KernelCatalog.Widen(storage)), KernelSpecialization.Empty))
            .Source.Should().Contain("kernel void");
        var arch = CudaArchitecture.SM_90;
        using var ptx = new PTXBackend(context, new CudaCapabilityContext(arch), arch, CudaInstructionSet.ISA_80, null);
        ((PTXCompiledKernel)ptx.Compile(EntryPointDescription.FromExplicitlyGroupedKernel(KernelCatalog.Widen(storage)), KernelSpecialization.Empty))
            .PTXAssembly.Should().Contain(".entry");
    }
}
