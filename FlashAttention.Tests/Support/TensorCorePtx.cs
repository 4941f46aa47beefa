using System.Collections.Concurrent;
using FlashAttention.Kernels.Launch;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime.Cuda;

namespace FlashAttention.Tests.Support;

/// <summary>
/// The tensor-core forward (4 warps, 64-key tiles) compiled to sm_80 PTX with inline PTX, once per
/// (head dim, element type, rows per warp) for the whole run: the PTX checks of
/// <see cref="TensorCoreForwardTests"/> and <see cref="PtxOperandPromotionTests"/> read the same
/// compilation (each compile takes ILGPU about 20 s on the CI machine).
/// </summary>
public static class TensorCorePtx
{
    private static readonly ConcurrentDictionary<(int Dim, bool BFloat16, int WarpRows), Lazy<(PTXCompiledKernel Kernel, string Ptx)>> Compiled = new();

    /// <summary>
    /// The compiled kernel and its PTX as ILGPU emitted it (kept apart from the kernel, which
    /// <see cref="PtxOperandPromotion.Apply"/> rewrites in place).
    /// </summary>
    public static (PTXCompiledKernel Kernel, string Ptx) Forward(int dim, bool bfloat16, int warpRows) =>
        Compiled.GetOrAdd((dim, bfloat16, warpRows), key => new(() =>
        {
            using var context = Context.Create(b => b.EnableAlgorithms().Optimize(OptimizationLevel.O2));
            using var backend = new PTXBackend(context, new CudaCapabilityContext(CudaArchitecture.SM_80),
                CudaArchitecture.SM_80, CudaInstructionSet.ISA_80, null);
            var method = KernelCatalog.TensorCoreForward(nativePtx: true, key.BFloat16, key.Dim, warps: 4, key.WarpRows);
            var kernel = (PTXCompiledKernel)backend.Compile(EntryPointDescription.FromExplicitlyGroupedKernel(method), KernelSpecialization.Empty);
            return (kernel, kernel.PTXAssembly);
        })).Value;
}
