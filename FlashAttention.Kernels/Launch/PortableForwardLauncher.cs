using System.Collections.Concurrent;
using FlashAttention.Kernels.Portable;
using ILGPU.Runtime.Cuda;

namespace FlashAttention.Kernels.Launch;

/// <summary>
/// Loads (once per specialisation) and launches the portable forward kernel on one accelerator.
/// Thread-safe; compiled kernels live as long as the accelerator.
/// </summary>
public sealed class PortableForwardLauncher
{
    private readonly Accelerator accelerator;
    private readonly ConcurrentDictionary<(Type, int, int, int), Lazy<Delegate>> kernels = new();

    /// <summary>Makes a launcher for <paramref name="accelerator"/>.</summary>
    public PortableForwardLauncher(Accelerator accelerator) => this.accelerator = accelerator;

    /// <summary>
    /// Runs attention for <paramref name="batch"/> items. The caller has validated shapes, strides,
    /// views and the tile; this only builds the grid and launches (asynchronously on <paramref name="stream"/>).
    /// </summary>
    public void Launch<T>(AcceleratorStream stream, in ForwardParams<T> p, int batch, TileConfig tile)
        where T : unmanaged
    {
        int dim = TileConfig.PadHeadDim(p.HeadDim);
        var layout = new ForwardSharedLayout(dim, tile.Br, tile.Bc);
        var kernel = (Action<AcceleratorStream, KernelConfig, ForwardParams<T>>)kernels
            .GetOrAdd((typeof(T), dim, tile.Br, tile.Bc), key => new Lazy<Delegate>(() => Load<T>(key.Item2, key.Item3, key.Item4, layout.TotalBytes)))
            .Value;
        var grid = new Index3D((p.SeqLenQ + tile.Br - 1) / tile.Br, p.HeadsQ, batch);
        var config = new KernelConfig(grid, new Index3D(tile.Threads, 1, 1), SharedMemoryConfig.RequestDynamic<float>(layout.TotalFloats));
        kernel(stream, config, p);
    }

    private Delegate Load<T>(int dim, int br, int bc, int sharedBytes) where T : unmanaged
    {
        var method = KernelCatalog.PortableForward(typeof(T), dim, br, bc);
        var launcher = accelerator.LoadKernel(method.CreateDelegate<Action<ForwardParams<T>>>());
        if (accelerator is CudaAccelerator && sharedBytes > accelerator.MaxSharedMemoryPerGroup)
            CudaDriver.AllowDynamicSharedMemory((CudaKernel)launcher.GetKernel(), sharedBytes);
        return launcher;
    }
}
