using FlashAttention.Kernels.Portable;

namespace FlashAttention.Kernels.Launch;

/// <summary>Launches ring attention's elementwise kernels (<see cref="WidenKernel"/>, <see cref="TensorCopyKernel"/>) on one accelerator. Thread-safe.</summary>
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

    /// <summary>Copies <paramref name="p"/>'s source into its target (validated by the caller).</summary>
    public void Copy<TSource, TTarget>(AcceleratorStream stream, in TensorCopyParams<TSource, TTarget> p)
        where TSource : unmanaged
        where TTarget : unmanaged
    {
        // Float16 as raw bits where the device has no fp16: either side may be Half.
        bool bits = profile.Float16AsBits;
        if (bits && typeof(TSource) == typeof(Half) && typeof(TTarget) == typeof(Half))
            CopyStorage(stream, new TensorCopyParams<ushort, ushort> { Source = p.Source.As<TSource, ushort>(), Target = p.Target.As<TTarget, ushort>(), Batch = p.Batch, SeqLen = p.SeqLen, Heads = p.Heads, HeadDim = p.HeadDim });
        else if (bits && typeof(TSource) == typeof(Half))
            CopyStorage(stream, new TensorCopyParams<ushort, TTarget> { Source = p.Source.As<TSource, ushort>(), Target = p.Target, Batch = p.Batch, SeqLen = p.SeqLen, Heads = p.Heads, HeadDim = p.HeadDim });
        else if (bits && typeof(TTarget) == typeof(Half))
            CopyStorage(stream, new TensorCopyParams<TSource, ushort> { Source = p.Source, Target = p.Target.As<TTarget, ushort>(), Batch = p.Batch, SeqLen = p.SeqLen, Heads = p.Heads, HeadDim = p.HeadDim });
        else
            CopyStorage(stream, p);
    }

    private void CopyStorage<TSource, TTarget>(AcceleratorStream stream, in TensorCopyParams<TSource, TTarget> p)
        where TSource : unmanaged
        where TTarget : unmanaged
    {
        long count = (long)p.Batch * p.SeqLen * p.Heads * p.HeadDim;
        if (count == 0)
            return;
        var kernel = kernels.Get<TensorCopyParams<TSource, TTarget>>(KernelCatalog.TensorCopy(typeof(TSource), typeof(TTarget)), 0);
        kernel(stream, Config(count), p);
    }

    private static KernelConfig Config(long count)
    {
        long groups = (count + Threads - 1) / Threads;
        if (groups > int.MaxValue)
            throw new ArgumentOutOfRangeException(nameof(count), count, "too many elements for one launch");
        return new KernelConfig(new Index3D((int)groups, 1, 1), new Index3D(Threads, 1, 1));
    }

    private void LaunchStorage<T>(AcceleratorStream stream, in WidenParams<T> p) where T : unmanaged
    {
        if (p.Count == 0)
            return;
        var kernel = kernels.Get<WidenParams<T>>(KernelCatalog.Widen(typeof(T)), 0);
        kernel(stream, Config(p.Count), p);
    }
}
