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
public sealed class AttentionEngine : IDisposable
{
    private readonly Context? ownedContext;
    private readonly bool ownsAccelerator;
    private readonly PortableForwardLauncher forward;
    private bool disposed;

    private AttentionEngine(Context? context, Accelerator accelerator, bool ownsAccelerator, PortableForwardLauncher? launcher = null)
    {
        ownedContext = context;
        Accelerator = accelerator;
        this.ownsAccelerator = ownsAccelerator;
        forward = launcher ?? new PortableForwardLauncher(accelerator);
        SharedMemoryLimitBytes = DeviceLimits.SharedMemoryPerGroup(accelerator);
    }

    /// <summary>
    /// Creates an engine on the accelerator <paramref name="choice"/> names; <see cref="AcceleratorChoice.Auto"/>
    /// takes a CUDA GPU, else an OpenCL device ILGPU supports, else the CPU accelerator.
    /// </summary>
    /// <exception cref="InvalidOperationException">The requested kind of accelerator is not present.</exception>
    public static AttentionEngine Create(AcceleratorChoice choice = AcceleratorChoice.Auto)
    {
        var context = Context.Create(b =>
        {
            b.EnableAlgorithms().Optimize(OptimizationLevel.O2);
            if (choice is AcceleratorChoice.Auto or AcceleratorChoice.Cuda) b.Cuda();
            if (choice is AcceleratorChoice.Auto or AcceleratorChoice.OpenCL) b.OpenCL();
            if (choice is AcceleratorChoice.Auto or AcceleratorChoice.Cpu) b.CPU(CPUDeviceKind.Nvidia);
        });
        try
        {
            var accelerator = Pick(context, choice)
                ?? throw new InvalidOperationException($"no {choice} accelerator is present on this machine");
            return new AttentionEngine(context, accelerator, ownsAccelerator: true);
        }
        catch
        {
            context.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Runs on an accelerator the caller owns (and keeps owning: disposing the engine leaves it open).
    /// Its context must have been built with <c>EnableAlgorithms()</c>, which the kernels' exp2/log2 need.
    /// </summary>
    public static AttentionEngine ForAccelerator(Accelerator accelerator)
    {
        ArgumentNullException.ThrowIfNull(accelerator);
        return new AttentionEngine(null, accelerator, ownsAccelerator: false);
    }

    /// <summary>An engine on a borrowed accelerator with explicit kernel variants (tests run OpenCL's variants on the CPU).</summary>
    internal static AttentionEngine WithLauncher(Accelerator accelerator, PortableForwardLauncher launcher) =>
        new(null, accelerator, ownsAccelerator: false, launcher);

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

    /// <summary>The tile used for <paramref name="headDim"/> when the options name none.</summary>
    public TileConfig DefaultTile(int headDim) =>
        TileConfig.Choose(headDim, SharedMemoryLimitBytes, Accelerator.MaxNumThreadsPerGroup);

    // ---------------------------------------------------------------- device memory

    /// <summary>
    /// Attention on device tensors: output = softmax(q k^T * scale + mask) v, and the LSE when
    /// <paramref name="lse"/> is not empty. Launches asynchronously on the accelerator's default
    /// stream (synchronize before reading). Nothing is launched if any argument is invalid.
    /// </summary>
    /// <param name="q">[batch, seqlen_q, heads_q, headdim].</param>
    /// <param name="k">[batch, seqlen_k, heads_kv, headdim]; heads_q must be a multiple of heads_kv (GQA/MQA).</param>
    /// <param name="v">Same shape as <paramref name="k"/>.</param>
    /// <param name="output">Same shape as <paramref name="q"/>; overwritten.</param>
    /// <param name="lse">float32 [batch, heads_q, seqlen_q] contiguous, or an empty view to skip it.</param>
    /// <param name="options">Scale, causality, tile; null for the defaults.</param>
    public void Forward<T>(DeviceTensor<T> q, DeviceTensor<T> k, DeviceTensor<T> v, DeviceTensor<T> output,
        ArrayView<float> lse, AttentionOptions? options = null) where T : unmanaged
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        options ??= AttentionOptions.Default;
        AttentionValidator.ElementType<T>();
        AttentionValidator.Forward(q.Layout, k.Layout, v.Layout, output.Layout, options);
        AttentionValidator.Fits(q.Layout, q.View.Length, nameof(q));
        AttentionValidator.Fits(k.Layout, k.View.Length, nameof(k));
        AttentionValidator.Fits(v.Layout, v.View.Length, nameof(v));
        AttentionValidator.Fits(output.Layout, output.View.Length, nameof(output));
        if (lse.Length != 0)
            AttentionValidator.Lse(lse.Length, q.Layout, nameof(lse));
        var tile = TileFor(q.Layout.HeadDim, options);
        Launch(q, k, v, output, lse, options, tile);
    }

    /// <summary>
    /// Attention on a packed [batch, seqlen, 3, heads, headdim] qkv buffer (self-attention, MHA).
    /// </summary>
    public void ForwardPackedQkv<T>(ArrayView<T> qkv, int batch, int seqLen, int heads, int headDim,
        DeviceTensor<T> output, ArrayView<float> lse, AttentionOptions? options = null) where T : unmanaged
    {
        var (ql, kl, vl) = TensorLayout.PackedQkv(batch, seqLen, heads, headDim);
        Forward(new DeviceTensor<T>(qkv, ql), new DeviceTensor<T>(qkv, kl), new DeviceTensor<T>(qkv, vl), output, lse, options);
    }

    /// <summary>Attention with q apart and k, v packed as [batch, seqlen_k, 2, heads_kv, headdim].</summary>
    public void ForwardPackedKv<T>(DeviceTensor<T> q, ArrayView<T> kv, int seqLenK, int headsKv,
        DeviceTensor<T> output, ArrayView<float> lse, AttentionOptions? options = null) where T : unmanaged
    {
        var (kl, vl) = TensorLayout.PackedKv(q.Layout.Batch, seqLenK, headsKv, q.Layout.HeadDim);
        Forward(q, new DeviceTensor<T>(kv, kl), new DeviceTensor<T>(kv, vl), output, lse, options);
    }

    // ---------------------------------------------------------------- host memory

    /// <summary>
    /// Attention on host tensors: uploads, runs, downloads, and returns a new contiguous output
    /// (and the LSE when <see cref="AttentionOptions.ReturnLse"/>).
    /// </summary>
    public AttentionResult<T> Forward<T>(HostTensor<T> q, HostTensor<T> k, HostTensor<T> v, AttentionOptions? options = null)
        where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(q);
        var o = q.Layout;
        var output = HostTensor<T>.Zeros(o.Batch > 0 ? o.Batch : 0, Math.Max(o.SeqLen, 0), Math.Max(o.Heads, 0), Math.Max(o.HeadDim, 0));
        options ??= AttentionOptions.Default;
        float[]? lse = options.ReturnLse ? new float[Math.Max(0, (long)o.Batch * o.Heads * o.SeqLen)] : null;
        Forward(q, k, v, output, lse, options);
        return new AttentionResult<T>(output, lse);
    }

    /// <summary>
    /// Attention on host tensors into caller-owned outputs: <paramref name="output"/> (q's shape, any layout)
    /// and, if not null, <paramref name="lse"/> (batch * heads_q * seqlen_q floats). On invalid input
    /// nothing is written.
    /// </summary>
    public void Forward<T>(HostTensor<T> q, HostTensor<T> k, HostTensor<T> v, HostTensor<T> output, float[]? lse,
        AttentionOptions? options = null) where T : unmanaged
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        ArgumentNullException.ThrowIfNull(q);
        ArgumentNullException.ThrowIfNull(k);
        ArgumentNullException.ThrowIfNull(v);
        ArgumentNullException.ThrowIfNull(output);
        options ??= AttentionOptions.Default;
        AttentionValidator.ElementType<T>();
        AttentionValidator.Forward(q.Layout, k.Layout, v.Layout, output.Layout, options);
        AttentionValidator.Fits(q.Layout, q.Data.LongLength, nameof(q));
        AttentionValidator.Fits(k.Layout, k.Data.LongLength, nameof(k));
        AttentionValidator.Fits(v.Layout, v.Data.LongLength, nameof(v));
        AttentionValidator.Fits(output.Layout, output.Data.LongLength, nameof(output));
        if (lse is not null)
            AttentionValidator.Lse(lse.LongLength, q.Layout, nameof(lse));
        var tile = TileFor(q.Layout.HeadDim, options);

        // Tensors that share an array (packed qkv) share one upload.
        using var uploads = new UploadSet<T>(Accelerator);
        var dq = uploads.Get(q);
        var dk = uploads.Get(k);
        var dv = uploads.Get(v);
        // The output goes up too: a strided output must keep the elements between its rows.
        int outLength = (int)output.Layout.RequiredLength;
        using var dOut = Accelerator.Allocate1D<T>(outLength);
        dOut.View.AsContiguous().CopyFromCPU(output.Data.AsSpan(0, outLength));
        using var dLse = Accelerator.Allocate1D<float>(lse?.LongLength ?? 0);
        Launch(dq, dk, dv, new DeviceTensor<T>(dOut.View, output.Layout), dLse.View, options, tile);
        Accelerator.Synchronize();
        dOut.View.AsContiguous().CopyToCPU(output.Data.AsSpan(0, outLength));
        if (lse is not null)
            dLse.View.AsContiguous().CopyToCPU(lse.AsSpan());
    }

    /// <summary>Self-attention on a packed host [batch, seqlen, 3, heads, headdim] qkv array.</summary>
    public AttentionResult<T> ForwardPackedQkv<T>(T[] qkv, int batch, int seqLen, int heads, int headDim, AttentionOptions? options = null)
        where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(qkv);
        var (ql, kl, vl) = TensorLayout.PackedQkv(batch, seqLen, heads, headDim);
        return Forward(new HostTensor<T>(qkv, ql), new HostTensor<T>(qkv, kl), new HostTensor<T>(qkv, vl), options);
    }

    /// <summary>Attention with host q and k, v packed as [batch, seqlen_k, 2, heads_kv, headdim].</summary>
    public AttentionResult<T> ForwardPackedKv<T>(HostTensor<T> q, T[] kv, int seqLenK, int headsKv, AttentionOptions? options = null)
        where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(q);
        ArgumentNullException.ThrowIfNull(kv);
        var (kl, vl) = TensorLayout.PackedKv(q.Layout.Batch, seqLenK, headsKv, q.Layout.HeadDim);
        return Forward(q, new HostTensor<T>(kv, kl), new HostTensor<T>(kv, vl), options);
    }

    // ---------------------------------------------------------------- internals

    private TileConfig TileFor(int headDim, AttentionOptions options)
    {
        if (options.Tile is null)
            return DefaultTile(headDim);
        options.Tile.Validate(headDim, SharedMemoryLimitBytes, Accelerator.MaxNumThreadsPerGroup, nameof(options));
        return options.Tile;
    }

    private void Launch<T>(DeviceTensor<T> q, DeviceTensor<T> k, DeviceTensor<T> v, DeviceTensor<T> output,
        ArrayView<float> lse, AttentionOptions options, TileConfig tile) where T : unmanaged
    {
        var ql = q.Layout;
        var p = new ForwardParams<T>
        {
            Q = q.ToKernel(),
            K = k.ToKernel(),
            V = v.ToKernel(),
            O = output.ToKernel(),
            Lse = lse,
            WriteLse = lse.Length != 0 ? 1 : 0,
            SeqLenQ = ql.SeqLen,
            SeqLenK = k.Layout.SeqLen,
            HeadsQ = ql.Heads,
            HeadDim = ql.HeadDim,
            QueryHeadsPerKvHead = ql.Heads / k.Layout.Heads,
            ScaleLog2 = options.ScaleFor(ql.HeadDim) * 1.4426950408889634f,
            Mask = new AttentionMask(ql.SeqLen, k.Layout.SeqLen, options.Causal),
        };
        forward.Launch(Accelerator.DefaultStream, p, ql.Batch, tile);
    }

    /// <summary>Releases the accelerator and context if the engine created them.</summary>
    public void Dispose()
    {
        if (disposed)
            return;
        disposed = true;
        if (ownsAccelerator)
            Accelerator.Dispose();
        ownedContext?.Dispose();
    }
}
