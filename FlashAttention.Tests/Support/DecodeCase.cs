using System.Runtime.InteropServices;
using FlashAttention.Reference;

namespace FlashAttention.Tests.Support;

/// <summary>
/// One decode check: a random cache (contiguous, or paged with a shuffled block table) whose rows past
/// each item's length are NaN (a kernel that reads them fails), optional k_new/v_new appended in place,
/// outputs poisoned with NaN; per batch item the float64 reference on that item's gathered keys, under
/// FlashAttention's rule (error &lt;= 2 x the naive low-precision error + slack) for O and LSE; after an
/// append, the cache must equal the old cache with exactly the new rows written.
/// </summary>
public sealed record DecodeCase(
    int[] SeqLens, int Capacity, int SeqQ, int HeadsQ, int HeadsKv, int HeadDim, bool Causal,
    int Splits = 0, int PageSize = 0, int SeqNew = 0, float? Scale = null, bool DeviceForm = false, DecodePath Path = DecodePath.Auto)
{
    public int Batch => SeqLens.Length;

    public override string ToString() =>
        $"lens[{string.Join(",", SeqLens)}] cap{Capacity} sq{SeqQ} hq{HeadsQ} hkv{HeadsKv} d{HeadDim}{(Causal ? " causal" : "")} " +
        $"splits{Splits}{(PageSize > 0 ? $" page{PageSize}" : "")}{(SeqNew > 0 ? $" new{SeqNew}" : "")}{(Scale is { } s ? $" scale{s}" : "")}" +
        $"{(DeviceForm ? " device" : "")}{(Path != DecodePath.Auto ? $" {Path}" : "")}";

    public DecodeOptions Options => new() { Causal = Causal, Scale = Scale, NumSplits = Splits, ReturnLse = true, Path = Path };

    /// <summary>Runs the case for element type <typeparamref name="T"/> and asserts.</summary>
    public void Check<T>(AttentionEngine engine) where T : unmanaged
    {
        string name = $"{Elements.Name<T>()} {this}";
        var rng = new RandomTensors(RandomTensors.SeedFor(name));
        var random = new Random(rng.Seed);
        int b = Batch, d = HeadDim, hkv = HeadsKv;
        var q = rng.Bshd<T>(b, SeqQ, HeadsQ, d);
        var kNew = SeqNew > 0 ? rng.Bshd<T>(b, SeqNew, hkv, d) : null;
        var vNew = SeqNew > 0 ? rng.Bshd<T>(b, SeqNew, hkv, d) : null;

        // Logical per-item keys/values: the first SeqLens[b] are in the cache, the rest NaN until appended.
        var logicalK = new T[b][];
        var logicalV = new T[b][];
        for (int i = 0; i < b; i++)
        {
            logicalK[i] = Poisoned<T>((long)Capacity * hkv * d);
            logicalV[i] = Poisoned<T>((long)Capacity * hkv * d);
            var k = rng.Array<T>((long)SeqLens[i] * hkv * d);
            var v = rng.Array<T>((long)SeqLens[i] * hkv * d);
            k.CopyTo(logicalK[i], 0);
            v.CopyTo(logicalV[i], 0);
        }

        // Physical layout: contiguous [batch, capacity, hkv, d], or pages [numPages, pageSize, hkv, d] with a shuffled table and a spare page.
        int pageSize = PageSize > 0 ? PageSize : Capacity;
        int pagesPerSeq = PageSize > 0 ? (Capacity + PageSize - 1) / PageSize : 1;
        int numPages = PageSize > 0 ? b * pagesPerSeq + 1 : b;
        var order = Enumerable.Range(0, numPages).ToArray();
        if (PageSize > 0)
            random.Shuffle(order);
        int[]? table = PageSize > 0 ? new int[b * pagesPerSeq] : null;
        var kData = Poisoned<T>((long)numPages * pageSize * hkv * d);
        var vData = Poisoned<T>((long)numPages * pageSize * hkv * d);
        long rowElems = (long)hkv * d;
        for (int i = 0; i < b; i++)
        for (int c = 0; c < pagesPerSeq; c++)
        {
            int page = PageSize > 0 ? order[i * pagesPerSeq + c] : i;
            if (table is not null)
                table[i * pagesPerSeq + c] = page;
            int rowsHere = Math.Min(pageSize, Capacity - c * pageSize);
            Array.Copy(logicalK[i], c * pageSize * rowElems, kData, page * pageSize * rowElems, rowsHere * rowElems);
            Array.Copy(logicalV[i], c * pageSize * rowElems, vData, page * pageSize * rowElems, rowsHere * rowElems);
        }
        var kBefore = (T[])kData.Clone();
        var vBefore = (T[])vData.Clone();
        var cache = new KvCache<T>(HostTensor<T>.Bshd(kData, numPages, pageSize, hkv, d), HostTensor<T>.Bshd(vData, numPages, pageSize, hkv, d),
            (int[])SeqLens.Clone()) { BlockTable = table };

        var output = HostTensor<T>.Bshd(Poisoned<T>(q.Data.Length), b, SeqQ, HeadsQ, d);
        var lse = Enumerable.Repeat(float.NaN, b * HeadsQ * SeqQ).ToArray();
        if (DeviceForm)
            RunOnDevice(engine, q, cache, output, lse, kNew, vNew);
        else
            engine.Decode(q, cache, output, lse, Options, kNew, vNew);

        // The expected cache after the append: the old one with rows SeqLens[i] .. + SeqNew of each item written.
        if (kNew is not null && vNew is not null)
        {
            for (int i = 0; i < b; i++)
            for (int t = 0; t < SeqNew; t++)
            {
                int key = SeqLens[i] + t;
                int page = table is null ? i : table[i * pagesPerSeq + key / pageSize];
                long at = ((long)page * pageSize + key % pageSize) * rowElems;
                Array.Copy(kNew.Data, ((long)i * SeqNew + t) * rowElems, kBefore, at, rowElems);
                Array.Copy(vNew.Data, ((long)i * SeqNew + t) * rowElems, vBefore, at, rowElems);
                Array.Copy(kNew.Data, ((long)i * SeqNew + t) * rowElems, logicalK[i], (long)key * rowElems, rowElems);
                Array.Copy(vNew.Data, ((long)i * SeqNew + t) * rowElems, logicalV[i], (long)key * rowElems, rowElems);
            }
        }
        SameBits(kData, kBefore).Should().BeTrue($"K cache of {name} must be the old cache plus exactly the appended rows");
        SameBits(vData, vBefore).Should().BeTrue($"V cache of {name} must be the old cache plus exactly the appended rows");

        Judge(name, rng.Seed, q, logicalK, logicalV, output, lse);
    }

    private void RunOnDevice<T>(AttentionEngine engine, HostTensor<T> q, KvCache<T> cache, HostTensor<T> output, float[] lse,
        HostTensor<T>? kNew, HostTensor<T>? vNew) where T : unmanaged
    {
        var acc = engine.Accelerator;
        using var dq = acc.Allocate1D(q.Data);
        using var dk = acc.Allocate1D(cache.K.Data);
        using var dv = acc.Allocate1D(cache.V.Data);
        using var dLens = acc.Allocate1D(cache.SeqLens);
        using var dTable = acc.Allocate1D(cache.BlockTable ?? [0]);
        using var dOut = acc.Allocate1D(output.Data);
        using var dLse = acc.Allocate1D(lse);
        using var dkNew = acc.Allocate1D(kNew?.Data ?? new T[1]);
        using var dvNew = acc.Allocate1D(vNew?.Data ?? new T[1]);
        var deviceCache = new DeviceKvCache<T>(new DeviceTensor<T>(dk.View, cache.K.Layout), new DeviceTensor<T>(dv.View, cache.V.Layout), dLens.View)
        {
            BlockTable = cache.BlockTable is null ? default : dTable.View,
        };
        engine.Decode(new DeviceTensor<T>(dq.View, q.Layout), deviceCache, new DeviceTensor<T>(dOut.View, output.Layout), dLse.View, Options,
            kNew is null ? null : new DeviceTensor<T>(dkNew.View, kNew.Layout), vNew is null ? null : new DeviceTensor<T>(dvNew.View, vNew.Layout));
        acc.Synchronize();
        dOut.View.CopyToCPU(output.Data);
        dLse.View.CopyToCPU(lse);
        dk.View.CopyToCPU(cache.K.Data);
        dv.View.CopyToCPU(cache.V.Data);
    }

    private void Judge<T>(string name, int seed, HostTensor<T> q, T[][] logicalK, T[][] logicalV, HostTensor<T> output, float[] lse)
        where T : unmanaged
    {
        int b = Batch, d = HeadDim, hq = HeadsQ, sq = SeqQ;
        float scale = Scale ?? 1f / MathF.Sqrt(d);
        var refO = new double[q.Data.Length];
        var refLse = new double[b * hq * sq];
        var naiveO = new double[q.Data.Length];
        var naiveLse = new double[b * hq * sq];
        long itemO = (long)sq * hq * d, itemLse = (long)hq * sq;
        for (int i = 0; i < b; i++)
        {
            int n = SeqLens[i] + SeqNew;
            var qi = HostTensor<T>.Bshd(q.Data[(int)(i * itemO)..(int)((i + 1) * itemO)], 1, sq, hq, d);
            if (n == 0)
            {
                Array.Fill(refLse, double.NegativeInfinity, (int)(i * itemLse), (int)itemLse);
                Array.Fill(naiveLse, double.NegativeInfinity, (int)(i * itemLse), (int)itemLse);
                continue;
            }
            var ki = HostTensor<T>.Bshd(logicalK[i][..(n * HeadsKv * d)], 1, n, HeadsKv, d);
            var vi = HostTensor<T>.Bshd(logicalV[i][..(n * HeadsKv * d)], 1, n, HeadsKv, d);
            var r = ReferenceAttention.Forward(qi, ki, vi, scale, Causal);
            var nv = NaiveAttention.Forward(qi, ki, vi, scale, Causal);
            r.Output.CopyTo(refO, i * itemO);
            r.Lse.CopyTo(refLse, i * itemLse);
            nv.Output.CopyTo(naiveO, i * itemO);
            nv.Lse.CopyTo(naiveLse, i * itemLse);
        }

        var ours = Accuracy.MaxError(refO, i => Elements.ToSingle(output.Data[i]));
        var naive = Accuracy.MaxError(refO, i => naiveO[i]);
        ours.Error.Should().BeLessThanOrEqualTo(2 * naive.Error + Accuracy.Slack<T>(),
            $"O of {name} (seed {seed}): max error {ours.Error:E3} at flat index {ours.Index} must be <= 2 x naive {naive.Error:E3} + slack");
        var oursLse = Accuracy.MaxError(refLse, i => lse[i]);
        var naiveL = Accuracy.MaxError(refLse, i => naiveLse[i]);
        oursLse.Error.Should().BeLessThanOrEqualTo(2 * naiveL.Error + Accuracy.Slack<T>(),
            $"LSE of {name} (seed {seed}): max error {oursLse.Error:E3} at index {oursLse.Index} must be <= 2 x naive {naiveL.Error:E3} + slack");
    }

    /// <summary>Bitwise equality (NaN poison included).</summary>
    public static bool SameBits<T>(T[] a, T[] b) where T : unmanaged =>
        MemoryMarshal.AsBytes(a.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(b.AsSpan()));

    public static T[] Poisoned<T>(long length) where T : unmanaged
    {
        var data = new T[length];
        Array.Fill(data, Elements.FromSingle<T>(float.NaN));
        return data;
    }

    /// <summary>Runs <paramref name="c"/> for the element type named <paramref name="dtype"/>.</summary>
    public static void Run(string dtype, DecodeCase c, AttentionEngine engine)
    {
        switch (dtype)
        {
            case "float32": c.Check<float>(engine); break;
            case "float16": c.Check<Half>(engine); break;
            default: c.Check<BFloat16>(engine); break;
        }
    }
}
