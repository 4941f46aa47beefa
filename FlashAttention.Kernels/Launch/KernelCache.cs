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
    private readonly ConcurrentDictionary<MethodInfo, Lazy<Delegate>> kernels = new();

    /// <summary>
    /// The launcher of <paramref name="method"/>, a kernel taking one <typeparamref name="TParams"/>.
    /// With <paramref name="promoteAsmOperands"/>, on CUDA, its PTX goes through
    /// <see cref="PtxOperandPromotion"/> before the driver sees it (kernels built on inline PTX).
    /// </summary>
    public Action<AcceleratorStream, KernelConfig, TParams> Get<TParams>(MethodInfo method, int dynamicSharedBytes, bool promoteAsmOperands = false)
        where TParams : struct =>
        (Action<AcceleratorStream, KernelConfig, TParams>)kernels
            .GetOrAdd(method, m => new Lazy<Delegate>(() => promoteAsmOperands && accelerator is CudaAccelerator
                ? LoadPromoted<TParams>(m, dynamicSharedBytes)
                : Load<TParams>(m, dynamicSharedBytes)))
            .Value;

    private Delegate Load<TParams>(MethodInfo method, int dynamicSharedBytes) where TParams : struct
    {
        var launcher = accelerator.LoadKernel(method.CreateDelegate<Action<TParams>>());
        if (accelerator is CudaAccelerator && dynamicSharedBytes > accelerator.MaxSharedMemoryPerGroup)
            CudaDriver.AllowDynamicSharedMemory((CudaKernel)launcher.GetKernel(), dynamicSharedBytes);
        return launcher;
    }

    /// <summary>Compiles to PTX with the accelerator's own backend, rewrites it, and loads the result as an explicitly grouped kernel.</summary>
    private Delegate LoadPromoted<TParams>(MethodInfo method, int dynamicSharedBytes) where TParams : struct
    {
        var compiled = (PTXCompiledKernel)((CudaAccelerator)accelerator).Backend.Compile(
            EntryPointDescription.FromExplicitlyGroupedKernel(method), KernelSpecialization.Empty);
        PtxOperandPromotion.Apply(compiled);
        var kernel = accelerator.LoadKernel(compiled);
        if (dynamicSharedBytes > accelerator.MaxSharedMemoryPerGroup)
            CudaDriver.AllowDynamicSharedMemory((CudaKernel)kernel, dynamicSharedBytes);
        return kernel.CreateLauncherDelegate<Action<AcceleratorStream, KernelConfig, TParams>>();
    }
}
