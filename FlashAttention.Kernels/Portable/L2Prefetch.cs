using FlashAttention.Kernels.TensorCore;
using ILGPU.Runtime.Cuda;

namespace FlashAttention.Kernels.Portable;

/// <summary>
/// prefetch.global.L2: asks the memory system to bring a line into L2 without a register to receive
/// it. A streaming decode lane can hold only one step of raw K/V words in registers, so its loads form
/// a chain of dependent round trips; prefetching steps further ahead puts more bytes in flight at no
/// register cost. A no-op off CUDA (where the target emits no PTX).
/// </summary>
internal static class L2Prefetch
{
    /// <summary>Prefetches the line holding global byte address <paramref name="address"/> (a generic address of a device buffer).</summary>
    public static void Line<TTarget>(ulong address) where TTarget : struct, ITensorCoreTarget
    {
        if (!default(TTarget).EmitsPtx)
            return;
        Ref<ulong> a = address;
        CudaAsm.EmitRef("{ .reg .u64 g; cvta.to.global.u64 g, %0; prefetch.global.L2 [g]; }", ref a);
    }
}
