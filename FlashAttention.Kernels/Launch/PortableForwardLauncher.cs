using System.Collections.Concurrent;
using FlashAttention.Kernels.Portable;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;

namespace FlashAttention.Kernels.Launch;

/// <summary>
/// Loads (once per specialisation) and launches the portable forward kernel on one accelerator.
/// Thread-safe; compiled kernels live as long as the accelerator.
/// </summary>
public sealed class PortableForwardLauncher
{
    private readonly Accelerator accelerator;
    private readonly bool dynamicShared;
    private readonly bool float16AsBits;
    private readonly ConcurrentDictionary<(Type, int, int, int), Lazy<Delegate>> kernels = new();

    /// <summary>Makes a launcher for <paramref name="accelerator"/>, choosing the kernel variants its backend needs.</summary>
    public PortableForwardLauncher(Accelerator accelerator)
        // See StaticSharedTiles for why OpenCL takes static shared memory.
        : this(accelerator, dynamicShared: accelerator is not CLAccelerator,
            float16AsBits: accelerator is CLAccelerator cl && !cl.Capabilities.Float16)
    {
    }

    /// <summary>
    /// Makes a launcher with explicit variants: tiles in dynamic or static shared memory, and
    /// float16 converted by the device or as raw bits. Lets the CPU run the OpenCL variants in tests.
    /// </summary>
    public PortableForwardLauncher(Accelerator accelerator, bool dynamicShared, bool float16AsBits)
    {
        this.accelerator = accelerator;
        this.dynamicShared = dynamicShared;
        this.float16AsBits = float16AsBits;
    }

    /// <summary>
    /// Runs attention for <paramref name="batch"/> items. The caller has validated shapes, strides,
    /// views and the tile; this only builds the grid and launches (asynchronously on <paramref name="stream"/>).
    /// </summary>
    public void Launch<T>(AcceleratorStream stream, in ForwardParams<T> p, int batch, TileConfig tile)
        where T : unmanaged
    {
        if (typeof(T) == typeof(Half) && float16AsBits)
            LaunchStorage(stream, p.As<T, ushort>(), batch, tile);
        else
            LaunchStorage(stream, p, batch, tile);
    }

    private void LaunchStorage<T>(AcceleratorStream stream, in ForwardParams<T> p, int batch, TileConfig tile)
        where T : unmanaged
    {
        int dim = TileConfig.PadHeadDim(p.HeadDim);
        var layout = new ForwardSharedLayout(dim, tile.Br, tile.Bc);
        var kernel = (Action<AcceleratorStream, KernelConfig, ForwardParams<T>>)kernels
            .GetOrAdd((typeof(T), dim, tile.Br, tile.Bc), key => new Lazy<Delegate>(() => Load<T>(key.Item2, key.Item3, key.Item4, layout.TotalBytes)))
            .Value;
        var grid = new Index3D((p.SeqLenQ + tile.Br - 1) / tile.Br, p.HeadsQ, batch);
        var shared = dynamicShared ? SharedMemoryConfig.RequestDynamic<float>(layout.TotalFloats) : default;
        kernel(stream, new KernelConfig(grid, new Index3D(tile.Threads, 1, 1), shared), p);
    }

    private Delegate Load<T>(int dim, int br, int bc, int sharedBytes) where T : unmanaged
    {
        var method = KernelCatalog.PortableForward(typeof(T), dim, br, bc, dynamicShared);
        var launcher = accelerator.LoadKernel(method.CreateDelegate<Action<ForwardParams<T>>>());
        if (accelerator is CudaAccelerator && sharedBytes > accelerator.MaxSharedMemoryPerGroup)
            CudaDriver.AllowDynamicSharedMemory((CudaKernel)launcher.GetKernel(), sharedBytes);
        return launcher;
    }
}
