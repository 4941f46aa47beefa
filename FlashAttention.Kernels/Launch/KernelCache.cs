using System.Collections.Concurrent;
using System.Reflection;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime.Cuda;

namespace FlashAttention.Kernels.Launch;

/// <summary>
/// Loads each kernel specialisation once per accelerator and, on CUDA, lets it use more than the
/// default 48 KB of dynamic shared memory before its first launch. Thread-safe.
/// </summary>
internal sealed class KernelCache(Accelerator accelerator)
{
    private readonly ConcurrentDictionary<(MethodInfo Method, int Bounds), Lazy<Delegate>> kernels = new();

    /// <summary>The launcher of <paramref name="method"/>, a kernel taking one <typeparamref name="TParams"/>.</summary>
    /// <param name="method">The kernel.</param>
    /// <param name="dynamicSharedBytes">Dynamic shared memory per group.</param>
    /// <param name="occupancyThreads">
    /// When positive, the group size to tell the CUDA compiler (launch bounds): together with the
    /// number of groups the shared memory lets an SM hold, it caps the registers per thread so
    /// registers do not become the tighter limit (see <see cref="OccupancyHint"/>). 0: no hint.
    /// </param>
    /// <param name="minGroupsPerSM">With <paramref name="promoteAsmOperands"/>: launch bounds asking ptxas for this many groups of <paramref name="occupancyThreads"/> per SM (0: none).</param>
    /// <param name="promoteAsmOperands">
    /// On CUDA, pass the PTX through <see cref="PtxOperandPromotion"/> before the driver sees it
    /// (kernels built on inline PTX).
    /// </param>
    public Action<AcceleratorStream, KernelConfig, TParams> Get<TParams>(MethodInfo method, int dynamicSharedBytes,
        int occupancyThreads = 0, bool promoteAsmOperands = false, int minGroupsPerSM = 0)
        where TParams : struct =>
        (Action<AcceleratorStream, KernelConfig, TParams>)kernels
            .GetOrAdd((method, minGroupsPerSM), key => new Lazy<Delegate>(() => promoteAsmOperands && accelerator is CudaAccelerator
                ? LoadPromoted<TParams>(key.Method, dynamicSharedBytes, occupancyThreads, minGroupsPerSM)
                : Load<TParams>(key.Method, dynamicSharedBytes, occupancyThreads)))
            .Value;

    private Delegate Load<TParams>(MethodInfo method, int dynamicSharedBytes, int occupancyThreads) where TParams : struct
    {
        if (accelerator is CudaAccelerator cuda && OccupancyHint(cuda, occupancyThreads, dynamicSharedBytes) is { } hint)
        {
            var kernel = accelerator.LoadKernel(method, hint);
            if (dynamicSharedBytes > accelerator.MaxSharedMemoryPerGroup)
                CudaDriver.AllowDynamicSharedMemory((CudaKernel)kernel, dynamicSharedBytes);
            return kernel.CreateLauncherDelegate<Action<AcceleratorStream, KernelConfig, TParams>>();
        }

        var launcher = accelerator.LoadKernel(method.CreateDelegate<Action<TParams>>());
        if (accelerator is CudaAccelerator && dynamicSharedBytes > accelerator.MaxSharedMemoryPerGroup)
            CudaDriver.AllowDynamicSharedMemory((CudaKernel)launcher.GetKernel(), dynamicSharedBytes);
        return launcher;
    }

    /// <summary>Compiles to PTX with the accelerator's own backend, rewrites it, and loads the result as an explicitly grouped kernel.</summary>
    private Delegate LoadPromoted<TParams>(MethodInfo method, int dynamicSharedBytes, int threads, int minGroupsPerSM) where TParams : struct
    {
        var bounds = minGroupsPerSM > 0 ? new KernelSpecialization(threads, minGroupsPerSM) : KernelSpecialization.Empty;
        var compiled = (PTXCompiledKernel)((CudaAccelerator)accelerator).Backend.Compile(
            EntryPointDescription.FromExplicitlyGroupedKernel(method), bounds);
        PtxOperandPromotion.Apply(compiled);
        PtxTarget.ForWgmma(compiled);
        var kernel = accelerator.LoadKernel(compiled);
        if (dynamicSharedBytes > accelerator.MaxSharedMemoryPerGroup)
            CudaDriver.AllowDynamicSharedMemory((CudaKernel)kernel, dynamicSharedBytes);
        return kernel.CreateLauncherDelegate<Action<AcceleratorStream, KernelConfig, TParams>>();
    }

    /// <summary>
    /// Launch bounds (.maxntid, .minnctapersm) for a kernel of <paramref name="threads"/> threads and
    /// <paramref name="sharedBytes"/> of shared memory per group: as many groups per SM as the shared
    /// memory allows (the driver reserves 1 KB per group), so ptxas keeps registers within
    /// 65536 / (groups x threads). Null when that would leave fewer than 72 registers per thread
    /// (spills cost more than the occupancy gains) or when there is nothing to gain.
    /// </summary>
    internal static KernelSpecialization? OccupancyHint(CudaAccelerator cuda, int threads, int sharedBytes)
    {
        if (threads <= 0)
            return null;
        int groups = Math.Min(cuda.MaxSharedMemoryPerMultiprocessor / (sharedBytes + 1024), cuda.MaxNumThreadsPerMultiprocessor / threads);
        return groups >= 2 && 65536 / (groups * threads) >= 72 ? new KernelSpecialization(threads, groups) : null;
    }
}
