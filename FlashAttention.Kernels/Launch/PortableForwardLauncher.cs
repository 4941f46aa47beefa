using FlashAttention.Kernels.Portable;

namespace FlashAttention.Kernels.Launch;

/// <summary>Launches the portable forward kernel on one accelerator. Thread-safe.</summary>
public sealed class PortableForwardLauncher
{
    /// <summary>Whether v4 may stage K/V through registers (experiments: FLASH_PORTABLE_STAGE=0 loads element by element).</summary>
    private static readonly bool Stage = Environment.GetEnvironmentVariable("FLASH_PORTABLE_STAGE") != "0";

    /// <summary>Whether v4 gets launch bounds (experiments: FLASH_PORTABLE_BOUNDS=0 leaves ptxas its own register count).</summary>
    private static readonly bool Bounds = Environment.GetEnvironmentVariable("FLASH_PORTABLE_BOUNDS") != "0";

    private readonly KernelCache kernels;
    private readonly BackendProfile profile;
    private readonly bool addressesKnown;

    /// <summary>Makes a launcher for <paramref name="accelerator"/>; <paramref name="profile"/> overrides the variants its backend needs (tests).</summary>
    public PortableForwardLauncher(Accelerator accelerator, BackendProfile? profile = null)
    {
        kernels = new KernelCache(accelerator);
        this.profile = profile ?? BackendProfile.For(accelerator);
        // OpenCL views carry buffer handles, not addresses: there K and V load element by element.
        addressesKnown = accelerator is not ILGPU.Runtime.OpenCL.CLAccelerator;
    }

    /// <summary>
    /// Runs attention for <paramref name="batch"/> items. The caller has validated shapes, strides,
    /// views and the tile; this only builds the grid and launches (asynchronously on <paramref name="stream"/>).
    /// </summary>
    public void Launch<T>(AcceleratorStream stream, in ForwardParams<T> p, int batch, TileConfig tile)
        where T : unmanaged
    {
        if (typeof(T) == typeof(Half) && profile.Float16AsBits)
            LaunchStorage(stream, p.As<T, ushort>(), batch, tile);
        else
            LaunchStorage(stream, p, batch, tile);
    }

    private void LaunchStorage<T>(AcceleratorStream stream, ForwardParams<T> p, int batch, TileConfig tile)
        where T : unmanaged
    {
        // v4 copies K and V tiles as 16-byte vectors when every row allows it (TileStage).
        p.VectorAligned = Stage && addressesKnown && VectorAlignment.RowsAligned(p.K) && VectorAlignment.RowsAligned(p.V) ? 1 : 0;
        int dim = TileConfig.PadHeadDim(p.HeadDim);
        int floats = tile.SharedMemoryBytes(p.HeadDim) / sizeof(float);
        var method = KernelCatalog.PortableForward(typeof(T), dim, tile.Br, tile.Bc, profile.DynamicShared, tile.Variant);
        // v4 asks ptxas for the occupancy its shared memory allows (3 groups per H100 SM at d 128,
        // 64 x 32); v3 is compiled as measured before, without launch bounds.
        var kernel = kernels.Get<ForwardParams<T>>(method, floats * sizeof(float),
            tile.Variant == ForwardVariant.V4 && Bounds ? tile.Threads : 0);
        var grid = new Index3D((p.SeqLenQ + tile.Br - 1) / tile.Br, p.HeadsQ, batch);
        var shared = profile.DynamicShared ? SharedMemoryConfig.RequestDynamic<float>(floats) : default;
        kernel(stream, new KernelConfig(grid, new Index3D(tile.Threads, 1, 1), shared), p);
    }
}
