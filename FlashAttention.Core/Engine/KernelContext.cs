using ILGPU.Runtime.CPU;

namespace FlashAttention;

/// <summary>
/// The ILGPU context settings the library's kernels compile under. Use them for a context whose
/// accelerators you hand to <see cref="AttentionEngine.ForAccelerator"/>.
/// </summary>
public static class KernelContext
{
    /// <summary>
    /// What every context needs: ILGPU.Algorithms (the kernels' exp2 and log2) and optimization level
    /// O2, with ILGPU's default aggressive inlining, which the PTX relies on (the tensor-core target
    /// tests fold away and the inline-PTX operands become registers only in one inlined body).
    /// </summary>
    public static Context.Builder ForKernels(this Context.Builder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.EnableAlgorithms().Optimize(OptimizationLevel.O2);
    }

    /// <summary>
    /// A context of CPU accelerators only (<see cref="CPUDeviceKind.Nvidia"/>: warps of 32, as the
    /// tensor-core emulation needs). ILGPU's CPU accelerator runs a kernel's own .NET method; its IR is
    /// built only to analyse the kernel, so inlining every call into it buys nothing at run time.
    /// Conservative inlining compiles a tensor-core kernel there in 1-5 s instead of 15-55 s and with a
    /// third of the memory (<c>docs/ARCHITECTURE.md</c>). Do not add GPU accelerators to such a context, nor run
    /// OpenCL's kernel variants in it (<c>BackendProfile</c> with static shared tiles): their allocation is sized by a
    /// compile-time constant that only the default inlining folds.
    /// </summary>
    public static Context.Builder ForCpuKernels(this Context.Builder builder) =>
        builder.ForKernels().Inlining(InliningMode.Conservative).CPU(CPUDeviceKind.Nvidia);
}
