using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;

namespace FlashAttention.Kernels.Launch;

/// <summary>Limits of an accelerator that decide which tiles can run on it.</summary>
public static class DeviceLimits
{
    /// <summary>
    /// The shared-memory limit per group the CPU accelerator is held to: an H100's opt-in maximum
    /// (227 KB). The CPU itself reports int.MaxValue; holding it to a GPU's limit keeps a tile that
    /// could not run on a GPU from passing its tests on the CPU.
    /// </summary>
    public const int CpuSharedMemoryPerGroup = 227 * 1024;

    /// <summary>The most dynamic shared memory one group may use on <paramref name="accelerator"/> (CUDA: the opt-in maximum).</summary>
    public static int SharedMemoryPerGroup(Accelerator accelerator) => accelerator switch
    {
        CudaAccelerator cuda => CudaDriver.MaxSharedMemoryPerGroupOptIn(cuda),
        CPUAccelerator => CpuSharedMemoryPerGroup,
        _ => accelerator.MaxSharedMemoryPerGroup,
    };
}
