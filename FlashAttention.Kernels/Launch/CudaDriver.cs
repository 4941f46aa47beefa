using System.Runtime.InteropServices;
using ILGPU.Runtime.Cuda;

namespace FlashAttention.Kernels.Launch;

/// <summary>
/// The two CUDA driver calls ILGPU does not expose: a kernel may use more than 48 KB of dynamic
/// shared memory only after its limit is raised, up to the device's opt-in maximum.
/// </summary>
internal static class CudaDriver
{
    private const int MaxDynamicSharedSizeBytes = 8;       // CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES
    private const int MaxSharedMemoryPerBlockOptin = 97;   // CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN

    [DllImport("libcuda.so.1", EntryPoint = "cuFuncSetAttribute")]
    private static extern int FuncSetAttribute(IntPtr function, int attribute, int value);

    [DllImport("libcuda.so.1", EntryPoint = "cuDeviceGetAttribute")]
    private static extern int DeviceGetAttribute(out int value, int attribute, int device);

    /// <summary>The most dynamic shared memory one group may opt into on <paramref name="accelerator"/>.</summary>
    public static int MaxSharedMemoryPerGroupOptIn(CudaAccelerator accelerator)
    {
        int status = DeviceGetAttribute(out int bytes, MaxSharedMemoryPerBlockOptin, accelerator.DeviceId);
        return status == 0 ? bytes : accelerator.MaxSharedMemoryPerGroup;
    }

    /// <summary>Lets <paramref name="kernel"/> launch with up to <paramref name="bytes"/> of dynamic shared memory.</summary>
    public static void AllowDynamicSharedMemory(CudaKernel kernel, int bytes)
    {
        int status = FuncSetAttribute(kernel.FunctionPtr, MaxDynamicSharedSizeBytes, bytes);
        if (status != 0)
            throw new InvalidOperationException($"cuFuncSetAttribute(MAX_DYNAMIC_SHARED_SIZE_BYTES, {bytes}) failed with CUDA error {status}");
    }
}
