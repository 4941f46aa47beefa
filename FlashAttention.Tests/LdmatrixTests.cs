using FlashAttention.Kernels.TensorCore;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime.Cuda;

namespace FlashAttention.Tests;

/// <summary>ldmatrix .x4 and .x4.trans: each lane receives exactly the elements PTX specifies.</summary>
public class LdmatrixTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Each_lane_receives_its_fragment(bool transpose)
    {
        var tile = Enumerable.Range(0, 256).Select(i => (ushort)(1000 + i)).ToArray(); // element (r, c) = 1000 + 16 r + c
        var accelerator = Support.TestDevice.TensorCoreEngine.Accelerator;
        using var dTile = accelerator.Allocate1D(tile);
        using var dRegs = accelerator.Allocate1D<uint>(32 * 4);
        var kernel = accelerator.LoadKernel(typeof(LdmatrixProbeKernel).GetMethod(nameof(LdmatrixProbeKernel.Run))!
            .MakeGenericMethod(Support.TestDevice.TensorCoreTarget).CreateDelegate<Action<ArrayView<ushort>, ArrayView<uint>, int>>());

        kernel(accelerator.DefaultStream, new KernelConfig(1, 32, SharedMemoryConfig.RequestDynamic<ushort>(16 * LdmatrixProbeKernel.Stride)),
            dTile.View, dRegs.View, transpose ? 1 : 0);
        accelerator.Synchronize();

        var regs = dRegs.GetAsArray1D();
        for (int lane = 0; lane < 32; lane++)
        for (int m = 0; m < 4; m++)
        {
            int r0 = (m & 1) * 8, c0 = (m >> 1) * 8; // matrix m's corner in the 16 x 16 tile
            int g = lane / 4, pair = (lane % 4) * 2;
            var (lowR, lowC, highR, highC) = transpose ? (pair, g, pair + 1, g) : (g, pair, g, pair + 1);
            uint expected = (uint)(1000 + 16 * (r0 + lowR) + c0 + lowC) | ((uint)(1000 + 16 * (r0 + highR) + c0 + highC) << 16);
            regs[lane * 4 + m].Should().Be(expected, $"lane {lane}, matrix {m}{(transpose ? ", trans" : "")}");
        }
    }

    [Fact]
    public void Ldmatrix_compiles_to_the_instruction_on_CUDA()
    {
        using var context = Context.Create(b => b.EnableAlgorithms().Optimize(OptimizationLevel.O2));
        using var backend = new PTXBackend(context, new CudaCapabilityContext(CudaArchitecture.SM_80), CudaArchitecture.SM_80,
            CudaInstructionSet.ISA_80, null);
        var method = typeof(LdmatrixProbeKernel).GetMethod(nameof(LdmatrixProbeKernel.Run))!.MakeGenericMethod(typeof(NativePtx));
        var ptx = ((PTXCompiledKernel)backend.Compile(EntryPointDescription.FromExplicitlyGroupedKernel(method), KernelSpecialization.Empty)).PTXAssembly;
        ptx.Should().Contain("ldmatrix.sync.aligned.m8n8.x4.shared.b16").And.Contain("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16")
            .And.Contain("__dyn_shared_alloca").And.NotContain("shfl");
    }
}
