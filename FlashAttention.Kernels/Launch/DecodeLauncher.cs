using System.Runtime.CompilerServices;
using FlashAttention.Kernels.Numerics;
using FlashAttention.Kernels.Portable;

namespace FlashAttention.Kernels.Launch;

/// <summary>Launches the decode kernels (append, split-KV attention, partial merge) on one accelerator. Thread-safe.</summary>
public sealed class DecodeLauncher
{
    private const int ElementwiseThreads = 256;
    private readonly KernelCache kernels;
    private readonly BackendProfile profile;
    private readonly bool addressesKnown;
    private readonly bool warpShuffles;
    private readonly Accelerator accelerator;

    /// <summary>Steps ahead the streaming kernel prefetches into L2 on CUDA (experiments: FLASH_DECODE_PREFETCH=N, 0 = off).</summary>
    private static readonly int PrefetchSteps = int.TryParse(Environment.GetEnvironmentVariable("FLASH_DECODE_PREFETCH"), out int s) ? s : 2;

    /// <summary>Experiments: FLASH_DECODE_RING=0 keeps every streaming call on the register loads, =1 puts every one on the ring.</summary>
    private static readonly string? RingSwitch = Environment.GetEnvironmentVariable("FLASH_DECODE_RING");

    /// <summary>
    /// Whether the streaming kernel for <paramref name="rowsStreamed"/> compiled rows loads through its cp.async ring
    /// (<see cref="DecodeRing"/>) rather than into registers with L2 prefetches: where it steps 2 keys a team, as for 2-8 rows.
    /// H100, fp16, d 128, 4 rows (32/8 heads), 16 shapes in one call twice (session 19, s19b): 0.95-0.99x the register loads'
    /// time on a contiguous cache, 0.85-1.00x on a paged one (pages of 256 rows). At 1 row (4 keys a step) the ring takes
    /// 64 KB a group and holds an SM to 3 groups where the register kernel runs 5: 32/32 heads, 12 shapes, two rounds
    /// (session 20, s20b), it ran 1.04-1.06x the register loads' time (0.98x at 1 x 8K), so 1 row keeps the register loads.
    /// </summary>
    public static bool StreamsThroughRing(int rowsStreamed) =>
        RingSwitch switch { "0" => false, "1" => true, _ => DecodeStreamKernel.Unroll(rowsStreamed) == 2 };

    /// <summary>
    /// The split count of a call (<see cref="DecodeSplits"/>): <see cref="DecodeSplits.ChooseForRing"/> for the streaming kernel's ring,
    /// <see cref="DecodeSplits.Choose"/> otherwise. <paramref name="unitKeys"/>: <see cref="SplitUnitKeys"/>; <paramref name="rowsPerKvHead"/>:
    /// heads_q / heads_kv * seqlen_q.
    /// </summary>
    public static int Splits(int requested, int groups, int maxKeys, int unitKeys, int multiprocessors, bool streaming, long rowsPerKvHead) =>
        streaming && StreamsThroughRing(DecodeStreamKernel.RowsFor(rowsPerKvHead))
            ? DecodeSplits.ChooseForRing(requested, groups, maxKeys, unitKeys, multiprocessors)
            : DecodeSplits.Choose(requested, groups, maxKeys, unitKeys, multiprocessors);

    /// <summary>
    /// Read once per process: the streaming kernel sums and softmaxes its steps the transposed way (<see cref="DecodeTransposedScores{TTarget}"/>:
    /// reduce-scattered team sums, one row's softmax a lane) where <see cref="DecodeStreamKernel.SupportsTransposedScores"/> (d 128,
    /// 4 rows a lane, 2 keys a step), unless FLASH_DECODE_TRANSPOSE=0 (the butterfly per score, <see cref="DecodeButterflyScores"/>).
    /// H100, fp16, 32/8 heads, the 16 shapes of batch 1-8 x 8K-64K in one call (docs/PERFORMANCE.md, session 22, s22a): faster on
    /// every shape, 0.9-1.7 % (batch 8 x 64K 0.706 ms against 0.714; 1 x 8K 26.0 us against 26.3); its key loop has 21 shuffles
    /// and 3 exp2 a step against 32 and 12, and 118 registers against 127.
    /// </summary>
    public static readonly bool TransposeSwitch = Environment.GetEnvironmentVariable("FLASH_DECODE_TRANSPOSE") != "0";

    /// <summary>Whether this launcher takes the transposed team sums where they apply: <see cref="TransposeSwitch"/> unless set (tests take both).</summary>
    public bool TransposedScores { get; init; } = TransposeSwitch;

    /// <summary>Experiments only: FLASH_DECODE_SEPARATE_MERGE=1 merges the streaming kernel's splits with <see cref="PartialMergeKernel"/> as before.</summary>
    private static readonly bool SeparateMerge = Environment.GetEnvironmentVariable("FLASH_DECODE_SEPARATE_MERGE") == "1";

    /// <summary>
    /// Whether a call's splits are merged by the last split of each (item, kv head) to finish
    /// (<see cref="DecodeSplitMerge"/>; <see cref="DecodeParams{T}.MergeInGroup"/>): on the streaming kernel with several
    /// splits. Otherwise <see cref="PartialMergeKernel"/> runs after the attention.
    /// </summary>
    public static bool MergesInGroup(bool streaming, int splits) => streaming && splits > 1 && !SeparateMerge;

    /// <summary>Makes a launcher for <paramref name="accelerator"/>; <paramref name="profile"/> overrides its backend's variants (tests).</summary>
    public DecodeLauncher(Accelerator accelerator, BackendProfile? profile = null)
    {
        this.accelerator = accelerator;
        kernels = new KernelCache(accelerator);
        this.profile = profile ?? BackendProfile.For(accelerator);
        // OpenCL views carry buffer handles, not addresses: alignment cannot be checked there, so K and V load element by element.
        addressesKnown = accelerator is not ILGPU.Runtime.OpenCL.CLAccelerator;
        // The streaming kernel sums scores with xor shuffles inside 32-lane warps.
        warpShuffles = accelerator is ILGPU.Runtime.Cuda.CudaAccelerator or ILGPU.Runtime.CPU.CPUAccelerator && accelerator.WarpSize == 32;
    }

    /// <summary>
    /// Why <see cref="DecodeStreamKernel"/> cannot run a call on this cache and shape, or null when it can:
    /// it needs warp shuffles (CUDA, CPU), a 16-bit element type, head dim 32, 64, 128 or 256, at most
    /// <see cref="DecodeStreamKernel.MaxRows"/> query rows per kv head, and cache rows on 16-byte boundaries.
    /// </summary>
    public string? StreamingRefusal<T>(in KvCacheView<T> cache, int headDim, int queryHeadsPerKvHead, int seqLenQ) where T : unmanaged
    {
        if (!warpShuffles)
            return "this accelerator has no 32-lane warp shuffles (CUDA or CPU needed)";
        if (typeof(T) != typeof(Half) && typeof(T) != typeof(BFloat16) || typeof(T) == typeof(Half) && profile.Float16AsBits)
            return $"the element type is {typeof(T).Name}; expected Half or BFloat16";
        if (!DecodeStreamKernel.SupportsDim(headDim))
            return $"the head dim is {headDim}; expected 32, 64, 128 or 256";
        long rows = (long)queryHeadsPerKvHead * seqLenQ;
        if (rows > DecodeStreamKernel.MaxRows)
            return $"heads_q / heads_kv * seqlen_q is {rows}; expected at most {DecodeStreamKernel.MaxRows}";
        if (!RowsAligned(cache.K, headDim) || !RowsAligned(cache.V, headDim))
            return "a cache row does not start on a 16-byte boundary (strides or the buffer's address)";
        return null;
    }

    /// <summary>
    /// The fewest keys one split is given: a tile for the tiled kernel; a step for the streaming kernel, and
    /// when the count is chosen automatically (<paramref name="automatic"/>) <see cref="DecodeStreamKernel.MinKeysPerSplit"/>.
    /// </summary>
    public static int SplitUnitKeys(bool streaming, bool automatic, int headDim, int queryHeadsPerKvHead, int seqLenQ)
    {
        if (!streaming)
            return TileKeys(headDim, queryHeadsPerKvHead, seqLenQ);
        int step = DecodeStreamKernel.StepKeys(headDim, DecodeStreamKernel.RowsFor((long)queryHeadsPerKvHead * seqLenQ));
        return automatic ? Math.Max(DecodeStreamKernel.MinKeysPerSplit, step) : step;
    }

    /// <summary>Shared memory of one decode group for <paramref name="headDim"/>: the most any row count takes (the validator's bound).</summary>
    public static int SharedMemoryBytes(int headDim)
    {
        int dim = TileConfig.PadHeadDim(headDim);
        return DecodeLayout.SupportedRows.Max(rows => new DecodeLayout(dim, DecodeLayout.TileKeys(dim, rows), rows).TotalBytes);
    }

    /// <summary>Shared memory of one decode group for <paramref name="headDim"/> and <paramref name="queryHeadsPerKvHead"/> * <paramref name="seqLenQ"/> rows per kv head.</summary>
    public static int SharedMemoryBytes(int headDim, int queryHeadsPerKvHead, int seqLenQ)
    {
        int dim = TileConfig.PadHeadDim(headDim);
        int rows = RowsPerGroup(queryHeadsPerKvHead, seqLenQ);
        return new DecodeLayout(dim, DecodeLayout.TileKeys(dim, rows), rows).TotalBytes;
    }

    /// <summary>Keys per tile for <paramref name="headDim"/> and <paramref name="queryHeadsPerKvHead"/> * <paramref name="seqLenQ"/> rows per kv head.</summary>
    public static int TileKeys(int headDim, int queryHeadsPerKvHead, int seqLenQ) =>
        DecodeLayout.TileKeys(TileConfig.PadHeadDim(headDim), RowsPerGroup(queryHeadsPerKvHead, seqLenQ));

    /// <summary>The compiled query rows per group (4, 8 or 16) for (heads_q / heads_kv) * seqlen_q rows per kv head.</summary>
    public static int RowsPerGroup(int queryHeadsPerKvHead, int seqLenQ) => DecodeLayout.RowsFor((long)queryHeadsPerKvHead * seqLenQ);

    /// <summary>Row chunks per kv head: (heads_q / heads_kv) * seqlen_q query rows in groups of <see cref="RowsPerGroup"/>.</summary>
    public static int RowChunks(int queryHeadsPerKvHead, int seqLenQ)
    {
        long rows = (long)queryHeadsPerKvHead * seqLenQ;
        int per = DecodeLayout.RowsFor(rows);
        return (int)((rows + per - 1) / per);
    }

    /// <summary>Appends k_new/v_new into the cache (validated by the caller).</summary>
    public void Append<T>(AcceleratorStream stream, in KvAppendParams<T> p) where T : unmanaged
    {
        if (typeof(T) == typeof(Half) && profile.Float16AsBits)
        {
            AppendStorage(stream, new KvAppendParams<ushort>
            {
                Cache = Cast<T, ushort>(p.Cache), KNew = p.KNew.As<T, ushort>(), VNew = p.VNew.As<T, ushort>(),
                Batch = p.Batch, SeqLenNew = p.SeqLenNew, HeadsKv = p.HeadsKv, HeadDim = p.HeadDim,
            });
        }
        else
        {
            AppendStorage(stream, p);
        }
    }

    private void AppendStorage<T>(AcceleratorStream stream, in KvAppendParams<T> p) where T : unmanaged
    {
        long elements = (long)p.Batch * p.SeqLenNew * p.HeadsKv * p.HeadDim;
        var kernel = kernels.Get<KvAppendParams<T>>(KernelCatalog.KvAppend(typeof(T)), 0);
        kernel(stream, Elementwise(elements), p);
    }

    /// <summary>
    /// Runs the attention of <paramref name="p"/> for <paramref name="batch"/> items and <paramref name="headsKv"/>
    /// kv heads, and with several splits the merge into <paramref name="p"/>'s O and LSE.
    /// </summary>
    /// <param name="stream">The stream to launch on.</param>
    /// <param name="p">The call's parameters.</param>
    /// <param name="batch">Batch items.</param>
    /// <param name="headsKv">Kv heads.</param>
    /// <param name="streaming">Run <see cref="DecodeStreamKernel"/> (only where <see cref="StreamingRefusal{T}"/> is null), else the tiled <see cref="DecodeKernel"/>.</param>
    public void Launch<T>(AcceleratorStream stream, in DecodeParams<T> p, int batch, int headsKv, bool streaming = false) where T : unmanaged
    {
        if (p.MergeInGroup != 0 && (!streaming || p.Arrivals.Length < (long)batch * headsKv))
            throw new ArgumentException(
                $"p: MergeInGroup needs the streaming kernel and Arrivals of at least batch * heads_kv = {(long)batch * headsKv} counters; Arrivals has {p.Arrivals.Length}", nameof(p));
        if (typeof(T) == typeof(Half) && profile.Float16AsBits)
            LaunchStorage(stream, Cast<T, ushort>(p), batch, headsKv, streaming);
        else
            LaunchStorage(stream, p, batch, headsKv, streaming);
    }

    private void LaunchStorage<T>(AcceleratorStream stream, DecodeParams<T> p, int batch, int headsKv, bool streaming) where T : unmanaged
    {
        p.VectorAligned = RowsAligned(p.Cache.K, p.HeadDim) && RowsAligned(p.Cache.V, p.HeadDim) ? 1 : 0;
        if (streaming)
        {
            int rowsStreamed = DecodeStreamKernel.RowsFor((long)p.QueryHeadsPerKvHead * p.SeqLenQ);
            bool ring = StreamsThroughRing(rowsStreamed) && profile.DynamicShared;
            int floats = DecodeStreamKernel.SharedFloats(p.HeadDim, rowsStreamed)
                         + (ring ? DecodeRing.SharedFloats(DecodeStreamKernel.Unroll(rowsStreamed)) : 0);
            // Launch bounds ride on the compile path that takes them (harmless for a kernel without inline PTX).
            int groupsPerSM = DecodeStreamKernel.GroupsPerMultiprocessor(rowsStreamed);
            bool nativePtx = accelerator is ILGPU.Runtime.Cuda.CudaAccelerator;
            if (nativePtx)
            {
                var cache = p.Cache;
                cache.K.Address = AddressOf(cache.K);
                cache.V.Address = AddressOf(cache.V);
                p.Cache = cache;
                p.PrefetchSteps = ring ? 0 : PrefetchSteps; // the ring loads three steps ahead itself
            }
            bool transposed = TransposedScores && DecodeStreamKernel.SupportsTransposedScores(p.HeadDim, rowsStreamed);
            var method = KernelCatalog.DecodeStream(typeof(T), p.HeadDim, rowsStreamed, profile.DynamicShared, nativePtx, ring, transposed);
            var streamKernel = kernels.Get<DecodeParams<T>>(method,
                floats * sizeof(float), groupsPerSM > 0 ? DecodeStreamKernel.Threads : 0, promoteAsmOperands: groupsPerSM > 0, minGroupsPerSM: groupsPerSM);
            var config = new KernelConfig(new Index3D(p.NumSplits, headsKv, batch), new Index3D(DecodeStreamKernel.Threads, 1, 1),
                profile.DynamicShared ? SharedMemoryConfig.RequestDynamic<float>(floats) : default);
            streamKernel(stream, config, p);
        }
        else
        {
            int dim = TileConfig.PadHeadDim(p.HeadDim);
            int rows = RowsPerGroup(p.QueryHeadsPerKvHead, p.SeqLenQ);
            int bc = DecodeLayout.TileKeys(dim, rows);
            int bytes = new DecodeLayout(dim, bc, rows).TotalBytes;
            var method = KernelCatalog.Decode(typeof(T), dim, bc, rows, profile.DynamicShared);
            var kernel = kernels.Get<DecodeParams<T>>(method, bytes);
            var grid = new Index3D(p.NumSplits * RowChunks(p.QueryHeadsPerKvHead, p.SeqLenQ), headsKv, batch);
            var shared = profile.DynamicShared ? SharedMemoryConfig.RequestDynamic<float>(bytes / sizeof(float)) : default;
            kernel(stream, new KernelConfig(grid, new Index3D(DecodeLayout.Threads(dim), 1, 1), shared), p);
        }
        if (p.NumSplits > 1 && p.MergeInGroup == 0)
        {
            MergeStorage(stream, new PartialMergeParams<T>
            {
                OPartial = p.OPartial, LsePartial = p.LsePartial, O = p.O, Lse = p.Lse, WriteLse = p.WriteLse,
                Parts = p.NumSplits, Batch = batch, Heads = p.HeadsQ, SeqLen = p.SeqLenQ, HeadDim = p.HeadDim,
            });
        }
    }

    /// <summary>Merges partial outputs into O and LSE (<see cref="PartialMergeKernel.Merge{T, TOps}"/>; validated by the caller).</summary>
    public void Merge<T>(AcceleratorStream stream, in PartialMergeParams<T> p) where T : unmanaged
    {
        if (typeof(T) == typeof(Half) && profile.Float16AsBits)
        {
            MergeStorage(stream, new PartialMergeParams<ushort>
            {
                OPartial = p.OPartial, LsePartial = p.LsePartial, O = p.O.As<T, ushort>(), Lse = p.Lse, WriteLse = p.WriteLse,
                Parts = p.Parts, Batch = p.Batch, Heads = p.Heads, SeqLen = p.SeqLen, HeadDim = p.HeadDim,
            });
        }
        else
        {
            MergeStorage(stream, p);
        }
    }

    private void MergeStorage<T>(AcceleratorStream stream, in PartialMergeParams<T> p) where T : unmanaged
    {
        var kernel = kernels.Get<PartialMergeParams<T>>(KernelCatalog.PartialMerge(typeof(T)), 0);
        kernel(stream, Elementwise((long)p.Batch * p.Heads * p.SeqLen * p.HeadDim), p);
    }

    /// <summary>Folds one part into a running (O, LSE) in place (<see cref="PartialMergeKernel.Fold"/>).</summary>
    public void Fold(AcceleratorStream stream, in PartialFoldParams p)
    {
        var kernel = kernels.Get<PartialFoldParams>(KernelCatalog.PartialFold, 0);
        kernel(stream, Elementwise(p.Rows), p);
    }

    /// <summary>Whether every row of <paramref name="t"/> starts on a 16-byte boundary and the head dim fills whole 16-byte vectors.</summary>
    private bool RowsAligned<T>(in StridedTensor<T> t, int headDim) where T : unmanaged
    {
        // Whole compiled rows only: the loader's vectors per row is then a compile-time constant.
        return addressesKnown && headDim == TileConfig.PadHeadDim(headDim) && headDim * Unsafe.SizeOf<T>() % 16 == 0
               && VectorAlignment.RowsAligned(t);
    }

    private static ulong AddressOf<T>(in StridedTensor<T> t) where T : unmanaged => VectorAlignment.AddressOf(t.Data);

    private static KernelConfig Elementwise(long elements)
    {
        long groups = Math.Max(1, (elements + ElementwiseThreads - 1) / ElementwiseThreads);
        if (groups > int.MaxValue)
            throw new ArgumentOutOfRangeException(nameof(elements), elements, "too many elements for one launch");
        return new KernelConfig(new Index3D((int)groups, 1, 1), new Index3D(ElementwiseThreads, 1, 1));
    }

    private static KvCacheView<TTo> Cast<TFrom, TTo>(in KvCacheView<TFrom> c)
        where TFrom : unmanaged
        where TTo : unmanaged => new()
    {
        K = c.K.As<TFrom, TTo>(), V = c.V.As<TFrom, TTo>(), SeqLens = c.SeqLens, BlockTable = c.BlockTable, Paged = c.Paged,
        PageSize = c.PageSize, PageMagic = c.PageMagic, PageMagicShift = c.PageMagicShift, PagesPerSequence = c.PagesPerSequence, NumPages = c.NumPages, Capacity = c.Capacity,
    };

    private static DecodeParams<TTo> Cast<TFrom, TTo>(in DecodeParams<TFrom> p)
        where TFrom : unmanaged
        where TTo : unmanaged => new()
    {
        Q = p.Q.As<TFrom, TTo>(), O = p.O.As<TFrom, TTo>(), Cache = Cast<TFrom, TTo>(p.Cache), Lse = p.Lse, WriteLse = p.WriteLse,
        OPartial = p.OPartial, LsePartial = p.LsePartial, NumSplits = p.NumSplits, SeqLenQ = p.SeqLenQ, SeqLenNew = p.SeqLenNew,
        HeadsQ = p.HeadsQ, HeadDim = p.HeadDim, QueryHeadsPerKvHead = p.QueryHeadsPerKvHead, ScaleLog2 = p.ScaleLog2,
        Causal = p.Causal, VectorAligned = p.VectorAligned, PrefetchSteps = p.PrefetchSteps, MergeInGroup = p.MergeInGroup, Arrivals = p.Arrivals,
    };
}
