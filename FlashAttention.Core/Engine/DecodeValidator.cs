using FlashAttention.Kernels.Launch;

namespace FlashAttention;

/// <summary>
/// Checks a decode call before anything is appended, launched or written. Messages name the argument,
/// the dimension, the value found and the value expected.
/// </summary>
internal static class DecodeValidator
{
    /// <summary>What the shapes say about the cache.</summary>
    /// <param name="Capacity">Keys one item can hold.</param>
    /// <param name="SeqLenNew">Keys appended (0 without k_new).</param>
    /// <param name="Paged">Whether the cache is paged.</param>
    /// <param name="PagesPerSequence">Block-table columns (paged).</param>
    public readonly record struct CacheShape(int Capacity, int SeqLenNew, bool Paged, int PagesPerSequence);

    public static CacheShape Shapes(TensorLayout q, TensorLayout k, TensorLayout v, TensorLayout output, long seqLensLength,
        long blockTableLength, bool paged, TensorLayout? kNew, TensorLayout? vNew, DecodeOptions options)
    {
        AttentionValidator.Positive(q, nameof(q));
        if (q.HeadDim > TileConfig.MaxHeadDim)
            throw new ArgumentException($"q: head dim is {q.HeadDim}; expected 1 to {TileConfig.MaxHeadDim}", nameof(q));
        if (q.Batch > AttentionValidator.MaxGridYZ)
            throw new ArgumentException($"q: batch is {q.Batch}; expected at most {AttentionValidator.MaxGridYZ}", nameof(q));
        AttentionValidator.Positive(k, "cache.K");
        AttentionValidator.Positive(v, "cache.V");
        if (!v.SameShape(k))
            throw new ArgumentException($"cache: V's shape is {v.ShapeText}; expected K's shape {k.ShapeText}", "cache");
        if (k.HeadDim != q.HeadDim)
            throw new ArgumentException($"cache: K's head dim is {k.HeadDim}; expected q's head dim {q.HeadDim}", "cache");
        if (q.Heads % k.Heads != 0)
            throw new ArgumentException(
                $"cache: K's heads is {k.Heads}; expected a divisor of q's heads ({q.Heads}) for grouped-query attention", "cache");
        if (k.Heads > AttentionValidator.MaxGridYZ)
            throw new ArgumentException($"cache: K's heads is {k.Heads}; expected at most {AttentionValidator.MaxGridYZ}", "cache");
        if (!paged && k.Batch != q.Batch)
            throw new ArgumentException($"cache: K's batch is {k.Batch}; expected q's batch {q.Batch} (a contiguous cache is [batch, capacity, heads_kv, headdim])", "cache");
        if (seqLensLength != q.Batch)
            throw new ArgumentException($"cache: SeqLens has {seqLensLength} elements; expected q's batch {q.Batch}", "cache");
        int pagesPerSequence = 0;
        if (paged)
        {
            if (blockTableLength == 0 || blockTableLength % q.Batch != 0)
                throw new ArgumentException(
                    $"cache: BlockTable has {blockTableLength} elements; expected batch ({q.Batch}) * pages_per_sequence, pages_per_sequence >= 1", "cache");
            pagesPerSequence = (int)Math.Min(int.MaxValue, blockTableLength / q.Batch);
        }
        long capacity = paged ? (long)pagesPerSequence * k.SeqLen : k.SeqLen;
        if (capacity > int.MaxValue)
            throw new ArgumentException($"cache: capacity pages_per_sequence * page_size is {capacity}; expected at most {int.MaxValue}", "cache");
        if (!output.SameShape(q))
            throw new ArgumentException($"output: shape is {output.ShapeText}; expected q's shape {q.ShapeText}", nameof(output));

        int seqLenNew = 0;
        if (kNew is null != vNew is null)
            throw new ArgumentException(
                $"{(kNew is null ? "kNew" : "vNew")}: missing; expected kNew and vNew together (or neither)", kNew is null ? "kNew" : "vNew");
        if (kNew is { } kn && vNew is { } vn)
        {
            AttentionValidator.Positive(kn, nameof(kNew));
            Equal(kn.Batch, q.Batch, nameof(kNew), "batch", "q's batch");
            Equal(kn.Heads, k.Heads, nameof(kNew), "heads", "the cache's heads_kv");
            Equal(kn.HeadDim, q.HeadDim, nameof(kNew), "head dim", "q's head dim");
            if (!vn.SameShape(kn))
                throw new ArgumentException($"vNew: shape is {vn.ShapeText}; expected kNew's shape {kn.ShapeText}", nameof(vNew));
            seqLenNew = kn.SeqLen;
        }

        if (options.Scale is float s && !float.IsFinite(s))
            throw new ArgumentException($"options: Scale is {s}; expected a finite number", nameof(options));
        if (options.NumSplits < 0 || options.NumSplits > DecodeSplits.MaxRequested)
            throw new ArgumentException(
                $"options: NumSplits is {options.NumSplits}; expected 0 (automatic) or 1 to {DecodeSplits.MaxRequested}", nameof(options));
        return new CacheShape((int)capacity, seqLenNew, paged, pagesPerSequence);
    }

    /// <summary>Checks the host lengths and block table: every item fits its capacity after the append, every page it uses exists.</summary>
    public static void Contents(int[] seqLens, int[]? blockTable, CacheShape shape, int numPages, int pageSize)
    {
        for (int b = 0; b < seqLens.Length; b++)
        {
            long total = (long)seqLens[b] + shape.SeqLenNew;
            if (seqLens[b] < 0 || total > shape.Capacity)
                throw new ArgumentException(
                    $"cache: SeqLens[{b}] is {seqLens[b]}{(shape.SeqLenNew > 0 ? $" (+ {shape.SeqLenNew} appended)" : "")}; expected 0 to " +
                    $"{shape.Capacity - shape.SeqLenNew} ({(shape.Paged ? "pages_per_sequence * page_size" : "the cache's capacity")} {shape.Capacity}" +
                    $"{(shape.SeqLenNew > 0 ? " minus the appended keys" : "")})", "cache");
            if (blockTable is null)
                continue;
            long used = (total + pageSize - 1) / pageSize;
            for (int c = 0; c < used; c++)
            {
                int page = blockTable[(long)b * shape.PagesPerSequence + c];
                if (page < 0 || page >= numPages)
                    throw new ArgumentException(
                        $"cache: BlockTable[{b}, {c}] is {page}; expected a page number 0 to {numPages - 1} (K's first dimension)", "cache");
            }
        }
    }

    /// <summary>The LSE output must hold batch * heads_q * seqlen_q floats.</summary>
    public static void Lse(long length, TensorLayout q, string paramName) => AttentionValidator.Lse(length, q, paramName);

    /// <summary>Checks that one group's shared memory fits the device.</summary>
    public static void SharedMemory(int headDim, int limit)
    {
        int bytes = DecodeLauncher.SharedMemoryBytes(headDim);
        if (bytes > limit)
            throw new ArgumentException(
                $"q: head dim {headDim} needs {bytes} bytes of shared memory per decode group; expected at most this device's {limit}", "q");
    }


    private static void Equal(int actual, int expected, string name, string dimension, string what)
    {
        if (actual != expected)
            throw new ArgumentException($"{name}: {dimension} is {actual}; expected {expected} ({what})", name);
    }
}
