using FlashAttention.Kernels.Launch;
using FlashAttention.Tests.Support;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.OpenCL;
using ILGPU.Backends.PTX;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;

namespace FlashAttention.Tests;

/// <summary>
/// The kernels the ring adds (<c>WidenKernel</c>: stored elements to float32, replacing or adding;
/// <c>TensorCopyKernel</c>: a tensor between layouts and element types), on the CPU accelerator and
/// compiled offline for the other backends.
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

    /// <summary>[batch, seqlen, heads, d] float32 into a [batch, heads, seqlen, d] float16 tensor at an offset: every element moved and rounded once.</summary>
    [Fact]
    public void Tensor_copy_changes_layout_and_type()
    {
        var engine = RingEngines.Take(1)[0];
        const int b = 2, n = 5, h = 3, d = 8;
        var values = new RandomTensors(4).Array<float>(b * n * h * d);
        using var source = engine.Accelerator.Allocate1D(values);
        using var target = engine.Accelerator.Allocate1D(Enumerable.Repeat((Half)7f, 10 + b * n * h * d).ToArray());
        var to = new DeviceTensor<Half>(target.View, TensorLayout.Bhsd(b, h, n, d) with { Offset = 10 });
        engine.CopyTensor(DeviceTensor<float>.Bshd(source.View, b, n, h, d), to);
        engine.Accelerator.Synchronize();
        var got = target.GetAsArray1D();
        got.Take(10).Should().OnlyContain(x => x == (Half)7f, "nothing before the offset is written");
        for (int i = 0; i < b; i++)
        for (int s = 0; s < n; s++)
        for (int j = 0; j < h; j++)
        for (int e = 0; e < d; e++)
            got[to.Layout.IndexOf(i, s, j, e)].Should().Be((Half)values[((i * n + s) * h + j) * d + e]);
    }

    [Theory]
    [InlineData(typeof(float), typeof(ushort))]
    [InlineData(typeof(ushort), typeof(ushort))]
    [InlineData(typeof(float), typeof(BFloat16))]
    public void Tensor_copy_compiles_to_OpenCL_C_and_PTX(Type source, Type target)
    {
        using var context = Context.Create(b => b.EnableAlgorithms().Optimize(OptimizationLevel.O2));
        var method = KernelCatalog.TensorCopy(source, target);
        var cl = new CLBackend(context, new CLCapabilityContext(false, false, false, false, false), CLDeviceVendor.Other, CLCVersion.CL20);
        ((CLCompiledKernel)cl.Compile(EntryPointDescription.FromExplicitlyGroupedKernel(method), KernelSpecialization.Empty)).Source.Should().Contain("kernel void");
        var arch = CudaArchitecture.SM_90;
        using var ptx = new PTXBackend(context, new CudaCapabilityContext(arch), arch, CudaInstructionSet.ISA_80, null);
        ((PTXCompiledKernel)ptx.Compile(EntryPointDescription.FromExplicitlyGroupedKernel(method), KernelSpecialization.Empty)).PTXAssembly.Should().Contain(".entry");
    }
}
