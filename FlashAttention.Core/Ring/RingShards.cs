namespace FlashAttention;

/// <summary>
/// Reordering between whole tensors and device shards. Shards the ring allocates are sequence-major
/// ([seqlen, batch, heads, headdim]) so that a prefix of a shard's positions, which is what a causal
/// block reads and what its dK/dV cover, is one contiguous run of memory.
/// </summary>
internal static class RingShards
{
    /// <summary>[seqlen, batch, heads, headdim] layout, seen as the logical [batch, seqlen, heads, headdim].</summary>
    public static TensorLayout SequenceMajor(int batch, int seqLen, int heads, int headDim) =>
        new(batch, seqLen, heads, headDim, (long)heads * headDim, (long)batch * heads * headDim, headDim);

    /// <summary>Positions [start, start + length) of a device tensor, without a copy.</summary>
    public static DeviceTensor<T> Positions<T>(DeviceTensor<T> tensor, int start, int length) where T : unmanaged =>
        tensor with { Layout = tensor.Layout with { SeqLen = length, Offset = tensor.Layout.Offset + start * tensor.Layout.SeqStride } };

    /// <summary>The positions of <paramref name="chunks"/>, in order, as one sequence-major array.</summary>
    public static T[] Gather<T>(HostTensor<T> tensor, IReadOnlyList<RingChunk> chunks) where T : unmanaged
    {
        var l = tensor.Layout;
        var data = new T[(long)chunks.Sum(c => c.Length) * l.Batch * l.Heads * l.HeadDim];
        long at = 0;
        foreach (var chunk in chunks)
            for (int s = chunk.Start; s < chunk.Start + chunk.Length; s++)
                for (int b = 0; b < l.Batch; b++)
                    for (int h = 0; h < l.Heads; h++, at += l.HeadDim)
                        Array.Copy(tensor.Data, l.IndexOf(b, s, h, 0), data, at, l.HeadDim);
        return data;
    }

    /// <summary>Writes a sequence-major array of <paramref name="chunks"/>' positions into <paramref name="tensor"/>.</summary>
    public static void Scatter<T>(T[] data, IReadOnlyList<RingChunk> chunks, HostTensor<T> tensor) where T : unmanaged
    {
        var l = tensor.Layout;
        long at = 0;
        foreach (var chunk in chunks)
            for (int s = chunk.Start; s < chunk.Start + chunk.Length; s++)
                for (int b = 0; b < l.Batch; b++)
                    for (int h = 0; h < l.Heads; h++, at += l.HeadDim)
                        Array.Copy(data, at, tensor.Data, l.IndexOf(b, s, h, 0), l.HeadDim);
    }

    /// <summary>A shard's LSE-ordered rows [batch, heads, shard length] from the whole [batch, heads, seqlen] array.</summary>
    public static float[] GatherRows(float[] whole, int rows, int seqLen, IReadOnlyList<RingChunk> chunks)
    {
        int length = chunks.Sum(c => c.Length);
        var part = new float[(long)rows * length];
        for (long r = 0; r < rows; r++)
        {
            int at = 0;
            foreach (var chunk in chunks)
            {
                Array.Copy(whole, r * seqLen + chunk.Start, part, r * length + at, chunk.Length);
                at += chunk.Length;
            }
        }
        return part;
    }

    /// <summary>The reverse of <see cref="GatherRows"/>.</summary>
    public static void ScatterRows(float[] part, int rows, int seqLen, IReadOnlyList<RingChunk> chunks, float[] whole)
    {
        int length = chunks.Sum(c => c.Length);
        for (long r = 0; r < rows; r++)
        {
            int at = 0;
            foreach (var chunk in chunks)
            {
                Array.Copy(part, r * length + at, whole, r * seqLen + chunk.Start, chunk.Length);
                at += chunk.Length;
            }
        }
    }
}
