using FlashAttention.Kernels.Portable;

namespace FlashAttention.Kernels.Launch;

/// <summary>Launches the three backward passes (D, then dK/dV, then dQ) on one accelerator. Thread-safe.</summary>
public sealed class PortableBackwardLauncher
{
    private const int RowDotThreads = 128;
    private readonly KernelCache kernels;
    private readonly BackendProfile profile;
    private readonly bool addressesKnown;

    /// <summary>Makes a launcher for <paramref name="accelerator"/>; <paramref name="profile"/> overrides the variants its backend needs (tests).</summary>
    public PortableBackwardLauncher(Accelerator accelerator, BackendProfile? profile = null)
    {
        kernels = new KernelCache(accelerator);
        this.profile = profile ?? BackendProfile.For(accelerator);
        // OpenCL views carry buffer handles, not addresses: there the tiles load element by element.
        addressesKnown = accelerator is not ILGPU.Runtime.OpenCL.CLAccelerator;
    }

    /// <summary>
    /// Computes dQ, dK, dV for <paramref name="batch"/> items into the views of <paramref name="p"/>,
    /// using <see cref="BackwardParams{T}.Delta"/> as scratch. Asynchronous on <paramref name="stream"/>;
    /// the three launches run in order on it.
    /// </summary>
    public void Launch<T>(AcceleratorStream stream, in BackwardParams<T> p, int batch, int headsKv, TileConfig tile)
        where T : unmanaged
    {
        if (typeof(T) == typeof(Half) && profile.Float16AsBits)
            LaunchStorage(stream, p.As<T, ushort>(), batch, headsKv, tile);
        else
            LaunchStorage(stream, p, batch, headsKv, tile);
    }

    private void LaunchStorage<T>(AcceleratorStream stream, BackwardParams<T> p, int batch, int headsKv, TileConfig tile)
        where T : unmanaged
    {
        p.VectorAligned = addressesKnown && VectorAlignment.RowsAligned(p.Q) && VectorAlignment.RowsAligned(p.K)
                          && VectorAlignment.RowsAligned(p.V) && VectorAlignment.RowsAligned(p.DO) ? 1 : 0;
        int dim = TileConfig.PadHeadDim(p.HeadDim);
        var group = new Index3D(tile.Threads, 1, 1);

        var rowDot = kernels.Get<BackwardParams<T>>(KernelCatalog.RowDot(typeof(T)), 0);
        rowDot(stream, new KernelConfig(new Index3D((p.SeqLenQ + RowDotThreads - 1) / RowDotThreads, p.HeadsQ, batch),
            new Index3D(RowDotThreads, 1, 1)), p);

        var kvLayout = new BackwardSharedLayout(dim, tile.Br, tile.Bc, keyValueKernel: true);
        var keyValue = kernels.Get<BackwardParams<T>>(
            KernelCatalog.PortableBackwardKeyValue(typeof(T), dim, tile.Br, tile.Bc, profile.DynamicShared), kvLayout.TotalBytes);
        keyValue(stream, new KernelConfig(new Index3D((p.SeqLenK + tile.Bc - 1) / tile.Bc, headsKv, batch), group,
            Shared(kvLayout.TotalFloats)), p);

        var qLayout = new BackwardSharedLayout(dim, tile.Br, tile.Bc, keyValueKernel: false);
        var query = kernels.Get<BackwardParams<T>>(
            KernelCatalog.PortableBackwardQuery(typeof(T), dim, tile.Br, tile.Bc, profile.DynamicShared), qLayout.TotalBytes);
        query(stream, new KernelConfig(new Index3D((p.SeqLenQ + tile.Br - 1) / tile.Br, p.HeadsQ, batch), group,
            Shared(qLayout.TotalFloats)), p);
    }

    private SharedMemoryConfig Shared(int floats) => profile.DynamicShared ? SharedMemoryConfig.RequestDynamic<float>(floats) : default;
}
