using ILGPU.Runtime.OpenCL;

namespace FlashAttention.Kernels.Launch;

/// <summary>
/// The kernel variants a backend needs: tiles in dynamic shared memory (CUDA, CPU) or static
/// (OpenCL: see <see cref="Portable.StaticSharedTiles"/>), and float16 converted by the device
/// or handled as raw bits (OpenCL devices without cl_khr_fp16).
/// </summary>
/// <param name="DynamicShared">Tiles in dynamic shared memory.</param>
/// <param name="Float16AsBits">Float16 tensors run as ushort with software conversion.</param>
public readonly record struct BackendProfile(bool DynamicShared, bool Float16AsBits)
{
    /// <summary>The variants <paramref name="accelerator"/> needs.</summary>
    public static BackendProfile For(Accelerator accelerator) => new(
        DynamicShared: accelerator is not CLAccelerator,
        Float16AsBits: accelerator is CLAccelerator cl && !cl.Capabilities.Float16);
}
