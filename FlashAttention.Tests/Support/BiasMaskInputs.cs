namespace FlashAttention.Tests.Support;

/// <summary>
/// Bias and boolean-mask tensors for a test case, made from the case's own seed so that the engine
/// call and the reference see the same values however often they are asked for. Dims are
/// [batch, heads] of the tensor (each 1 or the call's size); seqlens are the call's.
/// </summary>
public static class BiasMaskInputs
{
    /// <summary>
    /// A bias with values in [-2, 2]; with <paramref name="negativeInfinity"/> every 11th element is
    /// -inf (allowed, as in torch: it hides the pair) and so is every key of row 5 of each plane (a row the
    /// bias hides entirely: output 0, LSE -inf), and null for no dims.
    /// </summary>
    public static AttentionBias? Bias(int[]? dims, int seqQ, int seqK, int seed, bool negativeInfinity)
    {
        if (dims is null)
            return null;
        var rng = new Random(seed ^ 0x5bd1e995);
        var data = new float[(long)dims[0] * dims[1] * seqQ * seqK];
        for (long e = 0; e < data.LongLength; e++)
            data[e] = negativeInfinity && (e % 11 == 5 || e / seqK % seqQ == 5) ? float.NegativeInfinity : (float)(rng.NextDouble() * 4 - 2);
        return new AttentionBias(data, dims[0], dims[1], seqQ, seqK);
    }

    /// <summary><see cref="Bias"/> rounded to float16 (the reference widens it back, exactly); null for no dims.</summary>
    public static AttentionHalfBias? HalfBias(int[]? dims, int seqQ, int seqK, int seed, bool negativeInfinity) =>
        Bias(dims, seqQ, seqK, seed, negativeInfinity) is { } bias ? AttentionHalfBias.From(bias) : null;

    /// <summary>
    /// A keep-mask with about 70% of the pairs kept, and every row i with i % 7 == 3 fully hidden
    /// in each (batch, head) plane (output 0, LSE -inf there); null for no dims.
    /// </summary>
    public static AttentionBooleanMask? Mask(int[]? dims, int seqQ, int seqK, int seed, bool mostlyKept = false, bool documents = false)
    {
        if (dims is null)
            return null;
        var rng = new Random(seed ^ 0x1b873593);
        var data = new bool[(long)dims[0] * dims[1] * seqQ * seqK];
        if (mostlyKept)
            return MostlyKept(data, dims, seqQ, seqK, rng);
        if (documents)
            return Documents(data, dims, seqQ, seqK, rng);
        for (long e = 0; e < data.LongLength; e++)
        {
            long i = e / seqK % seqQ;
            data[e] = i % 7 != 3 && rng.NextDouble() < 0.7;
        }
        return new AttentionBooleanMask(data, dims[0], dims[1], seqQ, seqK);
    }

    /// <summary>
    /// Blocks of 32 queries x 32 keys, each kept whole (70 %) or with about 70 % of its pairs kept
    /// (30 %): so tiles a kernel can pass untested sit beside tiles it must test pair by pair.
    /// </summary>
    private static AttentionBooleanMask MostlyKept(bool[] data, int[] dims, int seqQ, int seqK, Random rng)
    {
        const int block = 32;
        int rows = (seqQ + block - 1) / block, cols = (seqK + block - 1) / block;
        var mixed = new bool[(long)dims[0] * dims[1] * rows * cols];
        for (long b = 0; b < mixed.LongLength; b++)
            mixed[b] = rng.NextDouble() < 0.3;
        for (long e = 0; e < data.LongLength; e++)
        {
            long plane = e / ((long)seqQ * seqK);
            long i = e / seqK % seqQ, j = e % seqK;
            bool inMixed = mixed[(plane * rows + i / block) * cols + j / block];
            data[e] = !inMixed || rng.NextDouble() < 0.7;
        }
        return new AttentionBooleanMask(data, dims[0], dims[1], seqQ, seqK);
    }

    /// <summary>
    /// Packed documents: the keys split into documents of 40-200 keys (each plane its own split), query i
    /// (aligned to the keys' end) sees the keys of its own document, 90 % of them. So most 128 x 128
    /// blocks off the diagonal are hidden whole, and the rest hold pairs to test one by one.
    /// </summary>
    private static AttentionBooleanMask Documents(bool[] data, int[] dims, int seqQ, int seqK, Random rng)
    {
        var document = new int[seqK];
        for (long plane = 0; plane < (long)dims[0] * dims[1]; plane++)
        {
            for (int j = 0, id = 0; j < seqK; id++)
            {
                int end = Math.Min(seqK, j + 40 + rng.Next(161));
                for (; j < end; j++)
                    document[j] = id;
            }
            for (int i = 0; i < seqQ; i++)
            {
                int at = Math.Clamp(i + seqK - seqQ, 0, seqK - 1);
                for (int j = 0; j < seqK; j++)
                    data[(plane * seqQ + i) * seqK + j] = document[j] == document[at] && rng.NextDouble() < 0.9;
            }
        }
        return new AttentionBooleanMask(data, dims[0], dims[1], seqQ, seqK);
    }

    /// <summary>
    /// A block mask of 128 x 128 blocks with about 60 % of the blocks visible, query block 1 hidden
    /// entirely in every (batch, head) plane (its rows: output 0, LSE -inf); null for no dims.
    /// </summary>
    public static AttentionBlockMask? BlockMask(int[]? dims, int seqQ, int seqK, int seed)
    {
        if (dims is null)
            return null;
        const int size = AttentionBlockMask.Granularity;
        int rows = (seqQ + size - 1) / size, cols = (seqK + size - 1) / size;
        var rng = new Random(seed ^ 0x2c1b3c6d);
        var blocks = new bool[(long)dims[0] * dims[1] * rows * cols];
        for (long e = 0; e < blocks.LongLength; e++)
            blocks[e] = e / cols % rows != 1 && rng.NextDouble() < 0.6;
        return new AttentionBlockMask(blocks, dims[0], dims[1], rows, cols);
    }

    /// <summary>"bias[b,h]" / "mask[b,h]" for case names.</summary>
    public static string Describe(string what, int[]? dims) => dims is null ? "" : $" {what}[{dims[0]},{dims[1]}]";
}
