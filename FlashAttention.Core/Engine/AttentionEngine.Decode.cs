using FlashAttention.Kernels.Launch;
using FlashAttention.Kernels.Portable;

namespace FlashAttention;

public sealed partial class AttentionEngine
{
    private DecodeLauncher? decodeLauncher;
    private MemoryBuffer1D<float, Stride1D.Dense>? decodeOPartial;
    private MemoryBuffer1D<float, Stride1D.Dense>? decodeLsePartial;
    private MemoryBuffer1D<float, Stride1D.Dense>? decodeNoFloats;
    private MemoryBuffer1D<int, Stride1D.Dense>? decodeNoInts;
    private MemoryBuffer1D<int, Stride1D.Dense>? decodeArrivals;

    /// <summary>The decode step's transposed team sums on or off for this engine (tests), else <see cref="DecodeLauncher.TransposeSwitch"/>.</summary>
    private bool? decodeTransposedScores;

    private DecodeLauncher DecodeKernels => decodeLauncher ??=
        new DecodeLauncher(Accelerator, backendProfile) { TransposedScores = decodeTransposedScores ?? DecodeLauncher.TransposeSwitch };

    /// <summary>
    /// An engine on a borrowed accelerator whose streaming decode takes the transposed team sums (<paramref name="transposed"/>) or not,
    /// whatever FLASH_DECODE_TRANSPOSE says: the switch is read once per process, and tests check both paths in one.
    /// </summary>
    internal static AttentionEngine WithDecodeTransposedScores(Accelerator accelerator, bool transposed) =>
        new(null, accelerator, ownsAccelerator: false) { decodeTransposedScores = transposed };

    /// <summary>
    /// Decoding with a key/value cache, as FlashAttention-2's flash_attn_with_kvcache, on host arrays:
    /// appends <paramref name="kNew"/>/<paramref name="vNew"/> (if given) into the cache arrays in place at
    /// position cache.SeqLens[b] of each item, then attends q to each item's cache.SeqLens[b] + seqlen_new keys.
    /// Returns a new contiguous output (and the LSE when <see cref="DecodeOptions.ReturnLse"/>).
    /// </summary>
    /// <param name="q">[batch, seqlen_q, heads_q, headdim]; seqlen_q is typically 1 (or a few, speculative decoding).</param>
    /// <param name="cache">The cache (contiguous or paged) and its lengths; <see cref="KvCache{T}.SeqLens"/> is not updated.</param>
    /// <param name="options">Scale, causality, LSE, splits; null for the defaults.</param>
    /// <param name="kNew">New keys [batch, seqlen_new, heads_kv, headdim], or null.</param>
    /// <param name="vNew">New values, kNew's shape; given exactly when kNew is.</param>
    public AttentionResult<T> Decode<T>(HostTensor<T> q, KvCache<T> cache, DecodeOptions? options = null,
        HostTensor<T>? kNew = null, HostTensor<T>? vNew = null) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(q);
        options ??= DecodeOptions.Default;
        var output = Zeros<T>(q.Layout);
        float[]? lse = options.ReturnLse ? new float[Math.Max(0, (long)q.Layout.Batch * q.Layout.Heads * q.Layout.SeqLen)] : null;
        Decode(q, cache, output, lse, options, kNew, vNew);
        return new AttentionResult<T>(output, lse);
    }

    /// <summary>
    /// <see cref="Decode{T}(HostTensor{T}, KvCache{T}, DecodeOptions?, HostTensor{T}?, HostTensor{T}?)"/> into
    /// caller-owned outputs: <paramref name="output"/> (q's shape, any layout) and, if not null,
    /// <paramref name="lse"/> (batch * heads_q * seqlen_q floats). On invalid input nothing is appended or written.
    /// </summary>
    public void Decode<T>(HostTensor<T> q, KvCache<T> cache, HostTensor<T> output, float[]? lse, DecodeOptions? options = null,
        HostTensor<T>? kNew = null, HostTensor<T>? vNew = null) where T : unmanaged
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(q);
        ArgumentNullException.ThrowIfNull(cache);
        ArgumentNullException.ThrowIfNull(cache.K, "cache.K");
        ArgumentNullException.ThrowIfNull(cache.V, "cache.V");
        ArgumentNullException.ThrowIfNull(cache.SeqLens, "cache.SeqLens");
        ArgumentNullException.ThrowIfNull(output);
        options ??= DecodeOptions.Default;
        AttentionValidator.ElementType<T>();
        var table = cache.BlockTable;
        var shape = DecodeValidator.Shapes(q.Layout, cache.K.Layout, cache.V.Layout, output.Layout, cache.SeqLens.LongLength,
            table?.LongLength ?? 0, table is not null, kNew?.Layout, vNew?.Layout, options);
        AttentionValidator.Fits(q.Layout, q.Data.LongLength, nameof(q));
        AttentionValidator.Fits(cache.K.Layout, cache.K.Data.LongLength, "cache");
        AttentionValidator.Fits(cache.V.Layout, cache.V.Data.LongLength, "cache");
        AttentionValidator.Fits(output.Layout, output.Data.LongLength, nameof(output));
        if (kNew is not null)
            AttentionValidator.Fits(kNew.Layout, kNew.Data.LongLength, nameof(kNew));
        if (vNew is not null)
            AttentionValidator.Fits(vNew.Layout, vNew.Data.LongLength, nameof(vNew));
        if (lse is not null)
            DecodeValidator.Lse(lse.LongLength, q.Layout, nameof(lse));
        DecodeValidator.Contents(cache.SeqLens, table, shape, cache.K.Layout.Batch, cache.K.Layout.SeqLen);
        DecodeValidator.SharedMemory(q.Layout.HeadDim, SharedMemoryLimitBytes);
        int maxKeys = cache.SeqLens.Length == 0 ? 0 : cache.SeqLens.Max() + shape.SeqLenNew;

        using var staging = new UploadSet<T>(Accelerator);
        bool appends = kNew is not null;
        var k = appends ? staging.Output(cache.K) : staging.Input(cache.K);
        var v = appends ? staging.Output(cache.V) : staging.Input(cache.V);
        var dq = staging.Input(q);
        var dOut = staging.Output(output);
        DeviceTensor<T>? dkNew = kNew is null ? null : staging.Input(kNew);
        DeviceTensor<T>? dvNew = vNew is null ? null : staging.Input(vNew);
        using var seqLens = Accelerator.Allocate1D(cache.SeqLens);
        using var blockTable = Accelerator.Allocate1D(table is null ? [0] : table);
        using var dLse = Accelerator.Allocate1D<float>(lse?.LongLength ?? 0);
        RunDecode(dq, k, v, seqLens.View, table is null ? default : blockTable.View, shape, dOut, dLse.View, dkNew, dvNew, options, maxKeys);
        Accelerator.Synchronize();
        staging.Download();
        if (lse is not null)
            dLse.View.AsContiguous().CopyToCPU(lse.AsSpan());
    }

    /// <summary>
    /// Decoding on device tensors (no copies): appends <paramref name="kNew"/>/<paramref name="vNew"/> into the
    /// cache in place if given, then attends. Launches asynchronously on the accelerator's default stream.
    /// The cache lengths and block table are used as they are on the device (see <see cref="DeviceKvCache{T}"/>).
    /// </summary>
    /// <param name="q">[batch, seqlen_q, heads_q, headdim].</param>
    /// <param name="cache">The cache, its lengths and (paged) its block table.</param>
    /// <param name="output">q's shape; overwritten.</param>
    /// <param name="lse">float32 [batch, heads_q, seqlen_q], or an empty view to skip it.</param>
    /// <param name="options">Scale, causality, splits; null for the defaults (ReturnLse is ignored: pass <paramref name="lse"/>).</param>
    /// <param name="kNew">New keys [batch, seqlen_new, heads_kv, headdim], or null.</param>
    /// <param name="vNew">New values, kNew's shape; given exactly when kNew is.</param>
    public void Decode<T>(DeviceTensor<T> q, DeviceKvCache<T> cache, DeviceTensor<T> output, ArrayView<float> lse,
        DecodeOptions? options = null, DeviceTensor<T>? kNew = null, DeviceTensor<T>? vNew = null) where T : unmanaged
    {
        ThrowIfDisposed();
        options ??= DecodeOptions.Default;
        AttentionValidator.ElementType<T>();
        bool paged = cache.BlockTable.Length != 0;
        var shape = DecodeValidator.Shapes(q.Layout, cache.K.Layout, cache.V.Layout, output.Layout, cache.SeqLens.Length,
            cache.BlockTable.Length, paged, kNew?.Layout, vNew?.Layout, options);
        if (paged && cache.PagesPerSequence != 0 && cache.PagesPerSequence != shape.PagesPerSequence)
            throw new ArgumentException(
                $"cache: PagesPerSequence is {cache.PagesPerSequence}; expected BlockTable's length / batch = {shape.PagesPerSequence}", nameof(cache));
        AttentionValidator.Fits(q.Layout, q.View.Length, nameof(q));
        AttentionValidator.Fits(cache.K.Layout, cache.K.View.Length, nameof(cache));
        AttentionValidator.Fits(cache.V.Layout, cache.V.View.Length, nameof(cache));
        AttentionValidator.Fits(output.Layout, output.View.Length, nameof(output));
        if (kNew is { } kn)
            AttentionValidator.Fits(kn.Layout, kn.View.Length, nameof(kNew));
        if (vNew is { } vn)
            AttentionValidator.Fits(vn.Layout, vn.View.Length, nameof(vNew));
        if (lse.Length != 0)
            DecodeValidator.Lse(lse.Length, q.Layout, nameof(lse));
        DecodeValidator.SharedMemory(q.Layout.HeadDim, SharedMemoryLimitBytes);
        RunDecode(q, cache.K, cache.V, cache.SeqLens, cache.BlockTable, shape, output, lse, kNew, vNew, options, shape.Capacity);
    }

    private void RunDecode<T>(DeviceTensor<T> q, DeviceTensor<T> k, DeviceTensor<T> v, ArrayView<int> seqLens, ArrayView<int> blockTable,
        DecodeValidator.CacheShape shape, DeviceTensor<T> output, ArrayView<float> lse, DeviceTensor<T>? kNew, DeviceTensor<T>? vNew,
        DecodeOptions options, int maxKeys) where T : unmanaged
    {
        var ql = q.Layout;
        int batch = ql.Batch, headsKv = k.Layout.Heads, group = ql.Heads / headsKv;
        var stream = Accelerator.DefaultStream;
        // Kernels never see an empty view: unused ones get a one-element buffer and a flag.
        decodeNoFloats ??= Accelerator.Allocate1D<float>(1);
        decodeNoInts ??= Accelerator.Allocate1D<int>(1);
        var (pageMagic, pageMagicShift) = PageDivision.For(Math.Max(1, k.Layout.SeqLen));
        var cache = new KvCacheView<T>
        {
            K = k.ToKernel(), V = v.ToKernel(), SeqLens = seqLens,
            BlockTable = shape.Paged ? blockTable : decodeNoInts.View,
            Paged = shape.Paged ? 1 : 0, PageSize = k.Layout.SeqLen,
            PageMagic = pageMagic, PageMagicShift = pageMagicShift, PagesPerSequence = shape.PagesPerSequence,
            NumPages = k.Layout.Batch, Capacity = shape.Capacity,
        };
        // Refuse a forced streaming call before the append changes the cache.
        string? refusal = options.Path == DecodePath.Tiled ? "" : DecodeKernels.StreamingRefusal(cache, ql.HeadDim, group, ql.SeqLen);
        if (options.Path == DecodePath.Streaming && refusal is not null)
            throw new ArgumentException($"options: Path is Streaming, but {refusal}; use DecodePath.Auto or Tiled", nameof(options));
        bool streaming = refusal is null;
        if (kNew is { } kn && vNew is { } vn)
        {
            DecodeKernels.Append(stream, new KvAppendParams<T>
            {
                Cache = cache, KNew = kn.ToKernel(), VNew = vn.ToKernel(),
                Batch = batch, SeqLenNew = kn.Layout.SeqLen, HeadsKv = headsKv, HeadDim = ql.HeadDim,
            });
        }

        int groups = (int)Math.Min(int.MaxValue, (long)batch * headsKv * DecodeLauncher.RowChunks(group, ql.SeqLen));
        int splits = DecodeLauncher.Splits(options.NumSplits, groups, maxKeys, DecodeLauncher.SplitUnitKeys(streaming, options.NumSplits == 0, ql.HeadDim, group, ql.SeqLen),
            Accelerator.NumMultiprocessors, streaming, (long)group * ql.SeqLen);
        long rows = (long)batch * ql.Heads * ql.SeqLen;
        var (oPartial, lsePartial) = splits > 1
            ? DecodeScratch(splits * rows * ql.HeadDim, splits * rows)
            : ((ArrayView<float>)decodeNoFloats.View, (ArrayView<float>)decodeNoFloats.View);
        var p = new DecodeParams<T>
        {
            Q = q.ToKernel(), O = output.ToKernel(), Cache = cache,
            Lse = lse.Length != 0 ? lse : decodeNoFloats.View, WriteLse = lse.Length != 0 ? 1 : 0,
            OPartial = oPartial, LsePartial = lsePartial, NumSplits = splits,
            SeqLenQ = ql.SeqLen, SeqLenNew = shape.SeqLenNew, HeadsQ = ql.Heads, HeadDim = ql.HeadDim, QueryHeadsPerKvHead = group,
            ScaleLog2 = options.ScaleFor(ql.HeadDim) * Log2E, Causal = options.Causal ? 1 : 0,
        };
        bool mergeInGroup = DecodeLauncher.MergesInGroup(streaming, splits);
        p.MergeInGroup = mergeInGroup ? 1 : 0;
        p.Arrivals = mergeInGroup ? DecodeArrivals((long)batch * headsKv) : decodeNoInts.View;
        DecodeKernels.Launch(stream, p, batch, headsKv, streaming);
    }

    private (ArrayView<float> O, ArrayView<float> Lse) DecodeScratch(long oFloats, long lseFloats)
    {
        if (decodeOPartial is null || decodeOPartial.Length < oFloats)
        {
            decodeOPartial?.Dispose();
            decodeOPartial = Accelerator.Allocate1D<float>(oFloats);
        }
        if (decodeLsePartial is null || decodeLsePartial.Length < lseFloats)
        {
            decodeLsePartial?.Dispose();
            decodeLsePartial = Accelerator.Allocate1D<float>(lseFloats);
        }
        return (decodeOPartial.View.SubView(0, oFloats), decodeLsePartial.View.SubView(0, lseFloats));
    }

    /// <summary>The split-merge counters (<see cref="DecodeLauncher.MergesInGroup"/>): zeroed once when allocated, left at 0 by every call.</summary>
    private ArrayView<int> DecodeArrivals(long count)
    {
        if (decodeArrivals is null || decodeArrivals.Length < count)
        {
            decodeArrivals?.Dispose();
            decodeArrivals = Accelerator.Allocate1D<int>(count);
            decodeArrivals.MemSetToZero(Accelerator.DefaultStream);
        }
        return decodeArrivals.View.SubView(0, count);
    }

    private void DisposeDecode()
    {
        decodeArrivals?.Dispose();
        decodeOPartial?.Dispose();
        decodeLsePartial?.Dispose();
        decodeNoFloats?.Dispose();
        decodeNoInts?.Dispose();
    }
}
