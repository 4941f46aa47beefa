using FlashAttention.Kernels.Launch;
using FlashAttention.Kernels.Portable;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;

namespace FlashAttention;

/// <summary>
/// Owns (or borrows) an ILGPU accelerator, caches the compiled kernels, and runs attention on it.
/// Create one per device and reuse it: the first call of each shape compiles its kernel.
/// Methods are not thread-safe with respect to one another; dispose when done.
/// </summary>
public sealed partial class AttentionEngine : IDisposable
{
    private readonly Context? ownedContext;
    private readonly bool ownsAccelerator;
    private readonly PortableForwardLauncher forward;
    private readonly TensorCoreForwardLauncher tensorCoreForward;
    private readonly MaskBitsLauncher maskBitsLauncher;
    private readonly PortableBackwardLauncher backward;
    private readonly BackendProfile? backendProfile;
    private bool disposed;

    private AttentionEngine(Context? context, Accelerator accelerator, bool ownsAccelerator, BackendProfile? profile = null, ScoreSeeding? seeding = null)
    {
        ownedContext = context;
        Accelerator = accelerator;
        this.ownsAccelerator = ownsAccelerator;
        forward = new PortableForwardLauncher(accelerator, profile);
        tensorCoreForward = new TensorCoreForwardLauncher(accelerator) { Seeding = seeding ?? TensorCoreForwardLauncher.SeedSwitch };
        maskBitsLauncher = new MaskBitsLauncher(accelerator);
        backward = new PortableBackwardLauncher(accelerator, profile);
        backendProfile = profile;
        SharedMemoryLimitBytes = DeviceLimits.SharedMemoryPerGroup(accelerator);
    }

    /// <summary>
    /// Creates an engine on the accelerator <paramref name="choice"/> names; <see cref="AcceleratorChoice.Auto"/>
    /// takes a CUDA GPU, else an OpenCL device ILGPU supports, else the CPU accelerator.
    /// </summary>
    /// <param name="choice">Which accelerator.</param>
    /// <param name="enableProfiling">Build the context with profiling, so streams can record timing markers (CUDA events).</param>
    /// <exception cref="InvalidOperationException">The requested kind of accelerator is not present.</exception>
    public static AttentionEngine Create(AcceleratorChoice choice = AcceleratorChoice.Auto, bool enableProfiling = false)
    {
        // A CPU-only context compiles with conservative inlining (KernelContext.ForCpuKernels), which a
        // context that may hold a GPU cannot: Auto first looks for a GPU and builds the CPU context anew if none is there.
        var context = Context.Create(b =>
        {
            if (choice is AcceleratorChoice.Cpu)
                b.ForCpuKernels();
            else
                b.ForKernels();
            if (enableProfiling) b.Profiling();
            if (choice is AcceleratorChoice.Auto or AcceleratorChoice.Cuda) b.Cuda();
            if (choice is AcceleratorChoice.Auto or AcceleratorChoice.OpenCL) b.OpenCL();
        });
        Accelerator? accelerator = null;
        try
        {
            accelerator = Pick(context, choice);
            if (accelerator is null && choice is AcceleratorChoice.Auto)
            {
                context.Dispose();
                return Create(AcceleratorChoice.Cpu, enableProfiling);
            }
            return new AttentionEngine(context, accelerator ?? throw new InvalidOperationException($"no {choice} accelerator is present on this machine"),
                ownsAccelerator: true);
        }
        catch
        {
            accelerator?.Dispose();
            context.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Runs on an accelerator the caller owns (and keeps owning: disposing the engine leaves it open).
    /// Its context must have been built with <c>EnableAlgorithms()</c>, which the kernels' exp2/log2 need:
    /// <see cref="KernelContext.ForKernels"/>, or <see cref="KernelContext.ForCpuKernels"/> for CPU accelerators.
    /// </summary>
    public static AttentionEngine ForAccelerator(Accelerator accelerator)
    {
        ArgumentNullException.ThrowIfNull(accelerator);
        return new AttentionEngine(null, accelerator, ownsAccelerator: false);
    }

    /// <summary>An engine on a borrowed accelerator with explicit kernel variants (tests run OpenCL's variants on the CPU).</summary>
    internal static AttentionEngine WithProfile(Accelerator accelerator, BackendProfile profile) =>
        new(null, accelerator, ownsAccelerator: false, profile);

    private static Accelerator? Pick(Context context, AcceleratorChoice choice)
    {
        foreach (var kind in new[] { AcceleratorType.Cuda, AcceleratorType.OpenCL, AcceleratorType.CPU })
        {
            foreach (var device in context.Devices.Where(d => d.AcceleratorType == kind))
            {
                try
                {
                    return device.CreateAccelerator(context);
                }
                catch (Exception) when (choice == AcceleratorChoice.Auto)
                {
                    // e.g. an OpenCL driver without generic address space: try the next device.
                }
            }
        }
        return null;
    }

    /// <summary>The accelerator the kernels run on.</summary>
    public Accelerator Accelerator { get; }

    /// <summary>Kind of the accelerator: Cuda, OpenCL or CPU.</summary>
    public AcceleratorType AcceleratorType => Accelerator.AcceleratorType;

    /// <summary>The device's name.</summary>
    public string DeviceName => Accelerator.Name;

    /// <summary>The most dynamic shared memory one group may use here (CUDA: the opt-in maximum).</summary>
    public int SharedMemoryLimitBytes { get; }

    /// <summary>Whether the device has the tensor cores the tensor-core kernel drives (CUDA, compute capability 8.0 or newer).</summary>
    public bool HasTensorCores => Accelerator is CudaAccelerator { Architecture.Major: >= 8 };

    /// <summary>Whether the accelerator runs Hopper's wgmma (compute capability 9.0 exactly: sm_90a code runs nowhere else).</summary>
    public bool HasWgmma => Accelerator is CudaAccelerator { Architecture.Major: 9, Architecture.Minor: 0 };

    /// <summary>The tensor-core forward tile used for <paramref name="headDim"/> when the options name none.</summary>
    public TensorCoreTile DefaultTensorCoreTile(int headDim, bool causal = false, bool scoreTensors = false, bool dropout = false, bool biasAlone = false,
        bool halfBias = false) =>
        TensorCoreTile.Choose(headDim, SharedMemoryLimitBytes, causal, scoreTensors, HasWgmma, dropout, biasAlone, halfBias);

    /// <summary>The forward tile used for <paramref name="headDim"/> when the options name none.</summary>
    public TileConfig DefaultTile(int headDim) =>
        TileConfig.Choose(headDim, SharedMemoryLimitBytes, Accelerator.MaxNumThreadsPerGroup);

    /// <summary>The backward tile used for <paramref name="headDim"/> when the options name none.</summary>
    public TileConfig DefaultBackwardTile(int headDim) =>
        TileConfig.ChooseBackward(headDim, SharedMemoryLimitBytes, Accelerator.MaxNumThreadsPerGroup);

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(disposed, this);

    /// <summary>A new contiguous tensor of <paramref name="like"/>'s shape (an invalid shape gives an empty one; validation reports it).</summary>
    private static HostTensor<T> Zeros<T>(TensorLayout like) where T : unmanaged =>
        HostTensor<T>.Zeros(Math.Max(0, like.Batch), Math.Max(0, like.SeqLen), Math.Max(0, like.Heads), Math.Max(0, like.HeadDim));

    /// <summary>Releases the accelerator and context if the engine created them.</summary>
    public void Dispose()
    {
        if (disposed)
            return;
        disposed = true;
        deltaScratch?.Dispose();
        alibiSlopes?.Dispose();
        biasBuffer?.Dispose();
        sequenceBuffer?.Dispose();
        maskBuffer?.Dispose();
        blockMaskBuffer?.Dispose();
        maskBitsBuffer?.Dispose();
        maskBlocksBuffer?.Dispose();
        biasGradientScratch?.Dispose();
        DisposeDecode();
        if (ownsAccelerator)
            Accelerator.Dispose();
        ownedContext?.Dispose();
    }
}
