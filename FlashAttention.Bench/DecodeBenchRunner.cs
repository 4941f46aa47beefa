using System.Runtime.CompilerServices;
using FlashAttention.Kernels.Launch;

namespace FlashAttention.Bench;

/// <summary>One measured decode configuration (the schema peers/torch_decode.py writes too).</summary>
public sealed record DecodeBenchResult(
    string Impl, string Dtype, int Batch, int CacheLen, int HeadsQ, int HeadsKv, int Headdim, int SeqlenQ, int PageSize, int Splits,
    double MedianMs, double MinMs, double Gbps, double PctCopy, long Bytes, int Runs, string Status);

/// <summary>What the decode sweep covers.</summary>
public sealed record DecodeBenchPlan(
    string Dtype, IReadOnlyList<int> Batches, IReadOnlyList<int> CacheLens, int HeadsQ, int HeadsKv, int Headdim, int SeqlenQ,
    int PageSize, IReadOnlyList<int> Splits, int Repeats, int Warmup, int InputSets, int QueueAhead = 0, IReadOnlyList<DecodePath>? Paths = null,
    bool HeadMajorCache = false)
{
    /// <summary>The kernel paths timed (default: automatic only).</summary>
    public IReadOnlyList<DecodePath> PathsTimed => Paths is { Count: > 0 } ? Paths : [DecodePath.Auto];

    /// <summary>Every configuration, in sweep order.</summary>
    public IEnumerable<(int Batch, int CacheLen, int Splits, DecodePath Path)> Configurations() =>
        from b in Batches from n in CacheLens from s in Splits from path in PathsTimed select (b, n, s, path);

    /// <summary>The result's implementation name: flash-decode for the automatic choice, else with the path named.</summary>
    public static string ImplName(DecodePath path) => path == DecodePath.Auto ? "flash-decode" : $"flash-decode-{path.ToString().ToLowerInvariant()}";

    /// <summary>
    /// Bytes one call must move at least: every key and value of every item read once, q read once,
    /// o written once. The effective bandwidth is this over the time.
    /// </summary>
    public long BytesMoved(int batch, int cacheLen, int elementBytes) =>
        2L * batch * cacheLen * HeadsKv * Headdim * elementBytes + 2L * batch * SeqlenQ * HeadsQ * Headdim * elementBytes;
}

/// <summary>
/// Times decode calls on device buffers: fresh random non-zero inputs (several sets rotated between
/// runs, so a small cache does not stay in L2), warm-up first, then CUDA events (ILGPU profiling
/// markers) around each call; the median is reported. Also measures the device-to-device copy
/// bandwidth the decode is compared with.
/// </summary>
public sealed class DecodeBenchRunner(AttentionEngine engine, DecodeBenchPlan plan) : IDisposable
{
    private int uploads;
    private MemoryBuffer1D<float, Stride1D.Dense>? spinSink;
    private Action<Index1D, ArrayView<float>, int>? spin;

    /// <summary>
    /// A one-thread kernel that runs <paramref name="iterations"/> dependent multiply-adds: enqueued before
    /// the timed calls, it keeps the device busy while the host enqueues them all, so each pair of
    /// events measures the device's time for one call, not the host's launch overhead (a decode call
    /// takes tens of microseconds, about what launching it costs).
    /// </summary>
    private static void Spin(Index1D index, ArrayView<float> sink, int iterations)
    {
        float x = sink[index];
        for (int i = 0; i < iterations; i++)
            x = x * 0.999999f + 1e-7f;
        sink[index] = x;
    }

    private void QueueAhead()
    {
        if (plan.QueueAhead <= 0)
            return;
        spinSink ??= engine.Accelerator.Allocate1D<float>(1);
        spin ??= engine.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, int>(Spin);
        spin(1, spinSink.View, plan.QueueAhead);
    }

    /// <summary>Releases the spin kernel's buffer.</summary>
    public void Dispose() => spinSink?.Dispose();

    /// <summary>
    /// Copy bandwidth of the device: median time of copying a buffer of <paramref name="bytes"/> into another
    /// (ILGPU CopyTo), GB/s = 2 * bytes / time (each byte is read once and written once).
    /// </summary>
    public double CopyGbps(long bytes, int repeats)
    {
        var acc = engine.Accelerator;
        long n = bytes / sizeof(float);
        using var src = acc.Allocate1D<float>(n);
        using var dst = acc.Allocate1D<float>(n);
        src.MemSetToZero();
        var stream = acc.DefaultStream;
        for (int i = 0; i < 3; i++)
            src.View.CopyTo(dst.View);
        acc.Synchronize();
        var times = new double[repeats];
        for (int i = 0; i < repeats; i++)
        {
            using var start = stream.AddProfilingMarker();
            src.View.CopyTo(dst.View);
            using var end = stream.AddProfilingMarker();
            stream.Synchronize();
            times[i] = end.MeasureFrom(start).TotalMilliseconds;
        }
        Array.Sort(times);
        return 2.0 * n * sizeof(float) / (times[repeats / 2] * 1e-3) / 1e9;
    }

    /// <summary>Measures one configuration; failures (out of memory, launch errors) come back as a status.</summary>
    public DecodeBenchResult Run(int batch, int cacheLen, int splits, double copyGbps, DecodePath path = DecodePath.Auto) => plan.Dtype switch
    {
        "bfloat16" => Run<BFloat16>(batch, cacheLen, splits, copyGbps, path),
        "float32" => Run<float>(batch, cacheLen, splits, copyGbps, path),
        _ => Run<Half>(batch, cacheLen, splits, copyGbps, path),
    };

    private DecodeBenchResult Run<T>(int batch, int cacheLen, int requestedSplits, double copyGbps, DecodePath path) where T : unmanaged
    {
        string impl = DecodeBenchPlan.ImplName(path) + (plan.HeadMajorCache && plan.PageSize == 0 ? "-bhsd" : "");
        var acc = engine.Accelerator;
        int hq = plan.HeadsQ, hkv = plan.HeadsKv, d = plan.Headdim, sq = plan.SeqlenQ;
        bool paged = plan.PageSize > 0;
        int pagesPerSeq = paged ? (cacheLen + plan.PageSize - 1) / plan.PageSize : 0;
        int rowsPerItem = paged ? pagesPerSeq * plan.PageSize : cacheLen;
        int items = paged ? batch * pagesPerSeq : batch;
        // The engine's own choice, for the report: the streaming kernel splits in steps, the tiled one in tiles (the bench's buffers are aligned).
        bool streaming = path != DecodePath.Tiled && typeof(T) != typeof(float) && Kernels.Portable.DecodeStreamKernel.SupportsDim(d)
            && (long)hq / hkv * sq <= Kernels.Portable.DecodeStreamKernel.MaxRows && acc.AcceleratorType != AcceleratorType.OpenCL;
        int splits = DecodeLauncher.Splits(requestedSplits, batch * hkv * DecodeLauncher.RowChunks(hq / hkv, sq), rowsPerItem,
            DecodeLauncher.SplitUnitKeys(streaming, requestedSplits == 0, d, hq / hkv, sq), acc.NumMultiprocessors, streaming, (long)hq / hkv * sq);
        int elementBytes = Unsafe.SizeOf<T>();
        long bytes = plan.BytesMoved(batch, cacheLen, elementBytes);
        var buffers = new List<MemoryBuffer>();
        try
        {
            MemoryBuffer1D<TE, Stride1D.Dense> Upload<TE>(TE[] host) where TE : unmanaged
            {
                var b = acc.Allocate1D(host);
                buffers.Add(b);
                return b;
            }

            long cacheElements = (long)items * (paged ? plan.PageSize : cacheLen) * hkv * d;
            var sets = Enumerable.Range(0, plan.InputSets).Select(_ => (
                Q: Upload(Random<T>((long)batch * sq * hq * d)), K: Upload(Random<T>(cacheElements)), V: Upload(Random<T>(cacheElements)))).ToArray();
            var o = Upload(new T[(long)batch * sq * hq * d]);
            var lens = Upload(Enumerable.Repeat(cacheLen, batch).ToArray());
            // Pages in a shuffled order, as a paged cache looks after a while.
            var order = Enumerable.Range(0, Math.Max(1, items)).ToArray();
            new Random(5).Shuffle(order);
            var table = Upload(paged ? order : [0]);
            var options = new DecodeOptions { NumSplits = requestedSplits, Path = path };

            // [B, N, Hkv, D] (FlashAttention's kvcache layout, and the paged one), or [B, Hkv, N, D] (torch SDPA's) when asked.
            DeviceTensor<T> CacheTensor(ArrayView<T> view) => plan.HeadMajorCache && !paged
                ? DeviceTensor<T>.Bhsd(view, items, hkv, cacheLen, d)
                : DeviceTensor<T>.Bshd(view, items, paged ? plan.PageSize : cacheLen, hkv, d);

            void Once(int run)
            {
                var s = sets[run % sets.Length];
                var cache = new DeviceKvCache<T>(CacheTensor(s.K.View), CacheTensor(s.V.View), lens.View)
                {
                    BlockTable = paged ? table.View : default,
                };
                engine.Decode(DeviceTensor<T>.Bshd(s.Q.View, batch, sq, hq, d), cache, DeviceTensor<T>.Bshd(o.View, batch, sq, hq, d), default, options);
            }

            for (int i = 0; i < plan.Warmup; i++)
                Once(i);
            acc.Synchronize();
            var stream = acc.DefaultStream;
            QueueAhead();
            var markers = new (ProfilingMarker Start, ProfilingMarker End)[plan.Repeats];
            for (int i = 0; i < plan.Repeats; i++)
            {
                var start = stream.AddProfilingMarker();
                Once(i);
                markers[i] = (start, stream.AddProfilingMarker());
            }
            stream.Synchronize();
            var times = new double[plan.Repeats];
            for (int i = 0; i < plan.Repeats; i++)
            {
                times[i] = markers[i].End.MeasureFrom(markers[i].Start).TotalMilliseconds;
                markers[i].Start.Dispose();
                markers[i].End.Dispose();
            }
            Array.Sort(times);
            double median = times[times.Length / 2];
            double gbps = bytes / (median * 1e-3) / 1e9;
            return new DecodeBenchResult(impl, plan.Dtype, batch, cacheLen, hq, hkv, d, sq, plan.PageSize, splits,
                median, times[0], gbps, 100 * gbps / copyGbps, bytes, plan.Repeats, "ok");
        }
        catch (Exception e) when (e is OutOfMemoryException || e is AcceleratorException || e.GetType().Name.Contains("Accelerator") || e is InvalidOperationException || e is ArgumentException)
        {
            return new DecodeBenchResult(impl, plan.Dtype, batch, cacheLen, hq, hkv, d, sq, plan.PageSize, splits,
                double.NaN, double.NaN, double.NaN, double.NaN, bytes, 0, $"error: {e.GetType().Name}: {e.Message.Split('\n')[0]}");
        }
        finally
        {
            foreach (var b in buffers)
                b.Dispose();
        }
    }

    /// <summary>Uniform values in [-1, 1) without zeros, filled in parallel chunks, each with its own seeded generator.</summary>
    private T[] Random<T>(long n) where T : unmanaged
    {
        var host = new T[n];
        int seed = 20261125 + 7919 * uploads++;
        const int Chunk = 1 << 20;
        Parallel.For(0, (int)((n + Chunk - 1) / Chunk), c =>
        {
            var random = new Random(seed + c);
            for (long i = (long)c * Chunk, end = Math.Min(n, i + Chunk); i < end; i++)
            {
                float x = (float)(random.NextDouble() * 2 - 1);
                host[i] = Elements.FromSingle<T>(x == 0f ? 0.5f : x);
            }
        });
        return host;
    }
}
