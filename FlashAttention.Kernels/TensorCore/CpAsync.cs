using FlashAttention.Kernels.Portable;
using ILGPU.Runtime.Cuda;

namespace FlashAttention.Kernels.TensorCore;

/// <summary>
/// cp.async (sm_80): 16-byte copies from global to shared memory that bypass the registers and
/// complete in the background, so the next K/V tile streams in while the current one is multiplied.
/// Elsewhere the copy happens at once (the same data arrives, only sooner). Shared addresses are
/// element offsets into the dynamic shared buffer, which ILGPU names __dyn_shared_alloca in its PTX.
/// </summary>
public static class CpAsync
{
    /// <summary>
    /// Copies 8 elements (16 bytes, both ends 16-byte aligned) from <paramref name="source"/> at
    /// <paramref name="sourceOffset"/> to shared element <paramref name="sharedOffset"/>, or writes 8
    /// zeros when <paramref name="valid"/> is false (the source address is then not read). On CUDA
    /// the source is addressed through <see cref="StridedTensor{T}.Address"/> (ILGPU gives kernels no
    /// way to turn a view element into an integer address).
    /// </summary>
    public static void Copy16<TTarget>(ArrayView<ushort> shared, int sharedOffset, in StridedTensor<ushort> source, long sourceOffset, bool valid)
        where TTarget : struct, ITensorCoreTarget
    {
        if (default(TTarget).EmitsPtx)
        {
            Ref<uint> bytes = (uint)(sharedOffset * 2);
            Ref<ulong> address = source.Address + (ulong)(sourceOffset * 2);
            Ref<uint> sourceBytes = valid ? 16u : 0u;
            CudaAsm.EmitRef(
                "{ .reg .u64 t; .reg .u32 s; .reg .u64 g; mov.u64 t, __dyn_shared_alloca; cvt.u32.u64 s, t; add.u32 s, s, %0; " +
                "cvta.to.global.u64 g, %1; cp.async.cg.shared.global [s], [g], 16, %2; }",
                ref bytes, ref address, ref sourceBytes);
            return;
        }
        for (int i = 0; i < 8; i++)
            shared[sharedOffset + i] = valid ? source.Data[sourceOffset + i] : (ushort)0;
    }

    /// <summary>
    /// cp.async of 16 bytes from global byte address <paramref name="globalAddress"/> to shared
    /// byte address <paramref name="sharedAddress"/> (in the shared window), or 16 zeros when
    /// <paramref name="valid"/> is false: the form for kernels that keep running addresses. CUDA only.
    /// </summary>
    public static void Copy16Raw(uint sharedAddress, ulong globalAddress, bool valid)
    {
        Ref<uint> to = sharedAddress;
        Ref<ulong> from = globalAddress;
        Ref<uint> bytes = valid ? 16u : 0u;
        CudaAsm.EmitRef("{ .reg .u64 g; cvta.to.global.u64 g, %1; cp.async.cg.shared.global [%0], [g], 16, %2; }", ref to, ref from, ref bytes);
    }

    /// <summary>
    /// cp.async of 4 bytes (both ends 4-byte aligned) from global byte address <paramref name="globalAddress"/> to shared byte
    /// address <paramref name="sharedAddress"/>, through L1 (.ca: the only form below 16 bytes). CUDA only.
    /// </summary>
    public static void Copy4Raw(uint sharedAddress, ulong globalAddress)
    {
        Ref<uint> to = sharedAddress;
        Ref<ulong> from = globalAddress;
        CudaAsm.EmitRef("{ .reg .u64 g; cvta.to.global.u64 g, %1; cp.async.ca.shared.global [%0], [g], 4; }", ref to, ref from);
    }

    /// <summary>Closes the group of copies issued since the last commit (cp.async.commit_group).</summary>
    public static void Commit<TTarget>() where TTarget : struct, ITensorCoreTarget
    {
        if (default(TTarget).EmitsPtx)
            CudaAsm.Emit("cp.async.commit_group;");
    }

    /// <summary>Waits until this thread's committed copies have landed (cp.async.wait_group 0); a barrier must follow before other threads read them.</summary>
    public static void WaitAll<TTarget>() where TTarget : struct, ITensorCoreTarget
    {
        if (default(TTarget).EmitsPtx)
            CudaAsm.Emit("cp.async.wait_group 0;");
    }
}
