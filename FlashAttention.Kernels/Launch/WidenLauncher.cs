using FlashAttention.Kernels.Portable;

namespace FlashAttention.Kernels.Launch;

/// <summary>Launches <see cref="WidenKernel"/> on one accelerator. Thread-safe.</summary>
public sealed class WidenLauncher
{
    private const int Threads = 256;
    private readonly KernelCache kernels;
    private readonly BackendProfile profile;

    /// <summary>Makes a launcher for <paramref name="accelerator"/>; <paramref name="profile"/> overrides its backend's variants (tests).</summary>
    public WidenLauncher(Accelerator accelerator, BackendProfile? profile = null)
    {
        kernels = new KernelCache(accelerator);
        this.profile = profile ?? BackendProfile.For(accelerator);
    }

    /// <summary>Target[0..count) = (or +=) float(Source[0..count)); validated by the caller.</summary>
    public void Launch<T>(AcceleratorStream stream, in WidenParams<T> p) where T : unmanaged
    {
        if (typeof(T) == typeof(Half) && profile.Float16AsBits)
            LaunchStorage(stream, new WidenParams<ushort> { Source = p.Source.Cast<ushort>(), Target = p.Target, Count = p.Count, Add = p.Add });
        else
            LaunchStorage(stream, p);
    }

    private void LaunchStorage<T>(AcceleratorStream stream, in WidenParams<T> p) where T : unmanaged
    {
        if (p.Count == 0)
            return;
        long groups = (p.Count + Threads - 1) / Threads;
        if (groups > int.MaxValue)
            throw new ArgumentOutOfRangeException(nameof(p), p.Count, "too many elements for one launch");
        var kernel = kernels.Get<WidenParams<T>>(KernelCatalog.Widen(typeof(T)), 0);
        kernel(stream, new KernelConfig(new Index3D((int)groups, 1, 1), new Index3D(Threads, 1, 1)), p);
    }
}
