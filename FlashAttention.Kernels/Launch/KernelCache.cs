using System.Collections.Concurrent;
using System.Reflection;
using ILGPU.Runtime.Cuda;

namespace FlashAttention.Kernels.Launch;

/// <summary>
/// Loads each kernel specialisation once per accelerator and, on CUDA, lets it use more than the
/// default 48 KB of dynamic shared memory before its first launch. Thread-safe.
/// </summary>
internal sealed class KernelCache(Accelerator accelerator)
{
    private readonly ConcurrentDictionary<MethodInfo, Lazy<Delegate>> kernels = new();

    /// <summary>The launcher of <paramref name="method"/>, a kernel taking one <typeparamref name="TParams"/>.</summary>
    public Action<AcceleratorStream, KernelConfig, TParams> Get<TParams>(MethodInfo method, int dynamicSharedBytes)
        where TParams : struct =>
        (Action<AcceleratorStream, KernelConfig, TParams>)kernels
            .GetOrAdd(method, m => new Lazy<Delegate>(() => Load<TParams>(m, dynamicSharedBytes)))
            .Value;

    private Delegate Load<TParams>(MethodInfo method, int dynamicSharedBytes) where TParams : struct
    {
        var launcher = accelerator.LoadKernel(method.CreateDelegate<Action<TParams>>());
        if (accelerator is CudaAccelerator && dynamicSharedBytes > accelerator.MaxSharedMemoryPerGroup)
            CudaDriver.AllowDynamicSharedMemory((CudaKernel)launcher.GetKernel(), dynamicSharedBytes);
        return launcher;
    }
}
