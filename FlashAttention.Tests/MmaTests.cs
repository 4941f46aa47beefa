using FlashAttention.Kernels.TensorCore;
using FlashAttention.Tests.Support;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime.Cuda;

namespace FlashAttention.Tests;

/// <summary>
/// The first tensor-core building block: mma.sync m16n8k16 through inline PTX on CUDA, and its
/// warp-collective C# emulation everywhere else, checked against a plain product.
/// </summary>
public class MmaTests
{
    [Fact]
    public void Mma_16x8x16_matches_a_plain_product()
    {
        var rng = new RandomTensors(42);
        var a = rng.Array<Half>(16 * 16);
        var b = rng.Array<Half>(16 * 8);
        var c = rng.Array<float>(16 * 8);
        var accelerator = TestDevice.TensorCoreEngine.Accelerator;
        using var da = accelerator.Allocate1D(Bits(a));
        using var db = accelerator.Allocate1D(Bits(b));
        using var dd = accelerator.Allocate1D(c);
        var kernel = accelerator.LoadKernel(typeof(MmaProbeKernel).GetMethod(nameof(MmaProbeKernel.Run))!
            .MakeGenericMethod(TestDevice.TensorCoreTarget).CreateDelegate<Action<ArrayView<ushort>, ArrayView<ushort>, ArrayView<float>>>());

        kernel(accelerator.DefaultStream, new KernelConfig(1, 32), da.View, db.View, dd.View);
        accelerator.Synchronize();

        var d = dd.GetAsArray1D();
        for (int i = 0; i < 16; i++)
        for (int n = 0; n < 8; n++)
        {
            double expected = c[i * 8 + n];
            for (int k = 0; k < 16; k++)
                expected += (float)a[i * 16 + k] * (double)(float)b[k * 8 + n];
            d[i * 8 + n].Should().BeApproximately((float)expected, 1e-5f, $"D[{i}][{n}]");
        }
    }

    [Fact]
    public void Mma_compiles_to_mma_sync_on_CUDA()
    {
        using var context = Context.Create(b => b.EnableAlgorithms().Optimize(OptimizationLevel.O2));
        using var backend = new PTXBackend(context, new CudaCapabilityContext(CudaArchitecture.SM_80), CudaArchitecture.SM_80,
            CudaInstructionSet.ISA_80, null);
        var method = typeof(MmaProbeKernel).GetMethod(nameof(MmaProbeKernel.Run))!.MakeGenericMethod(typeof(NativePtx));
        var ptx = ((PTXCompiledKernel)backend.Compile(EntryPointDescription.FromExplicitlyGroupedKernel(method), KernelSpecialization.Empty)).PTXAssembly;
        ptx.Should().Contain("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32");
        // The target is a compile-time type: the emulation's shuffles are not in the PTX at all.
        ptx.Should().NotContain("shfl");
    }

    private static ushort[] Bits(Half[] values) => System.Runtime.InteropServices.MemoryMarshal.Cast<Half, ushort>(values).ToArray();
}
