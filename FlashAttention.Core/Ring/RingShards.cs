namespace FlashAttention;

/// <summary>
/// Host-side reordering between whole [batch, seqlen, heads, headdim] tensors and the ring's device
/// buffers. Device tensors are sequence-major ([seqlen, batch, heads, headdim]) so that a prefix of
/// a shard's positions, which is what a causal block reads and what its dK/dV cover, is one
/// contiguous run of memory; LSE and forward outputs follow the LSE's (batch, head, position) order.
/// </summary>
internal static class RingShards
{
    /// <summary>[seqlen, batch, heads, headdim] layout, seen as the logical [batch, seqlen, heads, headdim].</summary>
    public static TensorLayout SequenceMajor(int batch, int seqLen, int heads, int headDim) =>
        new(batch, seqLen, heads, headDim, (long)heads * headDim, (long)batch * heads * headDim, headDim);

    /// <summary>Elements of <paramref name="positions"/> positions of a sequence-major tensor.</summary>
    public static long Elements(TensorLayout like, int positions) => (long)positions * like.Batch * like.Heads * like.HeadDim;

    /// <summary>The positions of <paramref name="chunks"/>, in order, as one sequence-major array.</summary>
    public static T[] Gather<T>(HostTensor<T> tensor, IEnumerable<RingChunk> chunks) where T : unmanaged
    {
        var l = tensor.Layout;
        var list = chunks.ToList();
        var data = new T[Elements(l, list.Sum(c => c.Length))];
        long at = 0;
        foreach (var chunk in list)
            for (int s = chunk.Start; s < chunk.Start + chunk.Length; s++)
                for (int b = 0; b < l.Batch; b++)
                    for (int h = 0; h < l.Heads; h++, at += l.HeadDim)
                        Array.Copy(tensor.Data, l.IndexOf(b, s, h, 0), data, at, l.HeadDim);
        return data;
    }

    /// <summary>Writes a sequence-major float32 array of <paramref name="chunks"/>' positions into <paramref name="tensor"/>, rounding to T.</summary>
    public static void Scatter<T>(ReadOnlySpan<float> data, IEnumerable<RingChunk> chunks, HostTensor<T> tensor) where T : unmanaged
    {
        var l = tensor.Layout;
        long at = 0;
        foreach (var chunk in chunks)
            for (int s = chunk.Start; s < chunk.Start + chunk.Length; s++)
                for (int b = 0; b < l.Batch; b++)
                    for (int h = 0; h < l.Heads; h++)
                    {
                        long to = l.IndexOf(b, s, h, 0);
                        for (int d = 0; d < l.HeadDim; d++)
                            tensor.Data[to + d] = FlashAttention.Elements.FromSingle<T>(data[(int)(at++)]);
                    }
    }

    /// <summary>A chunk's rows of an LSE-ordered float32 [batch, heads, seqlen] array (one value per row).</summary>
    public static float[] GatherRows(float[] whole, int batch, int heads, int seqLen, RingChunk chunk)
    {
        var part = new float[(long)batch * heads * chunk.Length];
        for (long r = 0; r < (long)batch * heads; r++)
            Array.Copy(whole, r * seqLen + chunk.Start, part, r * chunk.Length, chunk.Length);
        return part;
    }

    /// <summary>Writes a chunk's LSE-ordered rows (one float each) back into the whole array.</summary>
    public static void ScatterRows(ReadOnlySpan<float> part, int batch, int heads, int seqLen, RingChunk chunk, float[] whole)
    {
        for (long r = 0; r < (long)batch * heads; r++)
            part.Slice((int)(r * chunk.Length), chunk.Length).CopyTo(whole.AsSpan((int)(r * seqLen + chunk.Start), chunk.Length));
    }

    /// <summary>A chunk's forward output, LSE-ordered [batch, heads, length, headdim] float32, into <paramref name="output"/> rounding to T.</summary>
    public static void ScatterOutput<T>(ReadOnlySpan<float> part, RingChunk chunk, HostTensor<T> output) where T : unmanaged
    {
        var l = output.Layout;
        long at = 0;
        for (int b = 0; b < l.Batch; b++)
            for (int h = 0; h < l.Heads; h++)
                for (int t = 0; t < chunk.Length; t++)
                {
                    long to = l.IndexOf(b, chunk.Start + t, h, 0);
                    for (int d = 0; d < l.HeadDim; d++)
                        output.Data[to + d] = FlashAttention.Elements.FromSingle<T>(part[(int)(at++)]);
                }
    }
}
