namespace FlashAttention;

/// <summary>
/// The host forms of the ring calls: each device's shard of a whole host tensor gathered into a
/// sequence-major device buffer on that device, and results gathered back. Disposing frees the buffers.
/// </summary>
internal sealed class RingHostStaging(AttentionEngine[] engines, RingLayout layout) : IDisposable
{
    private readonly List<MemoryBuffer> buffers = [];

    private ArrayView<TElement> Allocate<TElement>(int device, long length) where TElement : unmanaged
    {
        var accelerator = engines[device].Accelerator;
        accelerator.Bind();
        var buffer = accelerator.Allocate1D<TElement>(Math.Max(1, length));
        buffers.Add(buffer);
        return buffer.View;
    }

    /// <summary>Device <paramref name="device"/>'s positions of <paramref name="whole"/>, on that device.</summary>
    public DeviceTensor<T> Upload<T>(int device, HostTensor<T> whole) where T : unmanaged
    {
        var data = RingShards.Gather(whole, layout.ChunksOf(device));
        var view = Allocate<T>(device, data.LongLength);
        if (data.Length > 0)
            ((ArrayView1D<T, Stride1D.Dense>)view.SubView(0, data.LongLength)).CopyFromCPU(data);
        var l = whole.Layout;
        return new DeviceTensor<T>(view, RingShards.SequenceMajor(l.Batch, layout.ShardLength(device), l.Heads, l.HeadDim));
    }

    /// <summary>An uninitialised shard on device <paramref name="device"/> of <paramref name="like"/>'s batch, heads and head dim.</summary>
    public DeviceTensor<T> Shard<T>(int device, TensorLayout like) where T : unmanaged
    {
        var l = RingShards.SequenceMajor(like.Batch, layout.ShardLength(device), like.Heads, like.HeadDim);
        return new DeviceTensor<T>(Allocate<T>(device, l.ElementCount), l);
    }

    /// <summary>Device <paramref name="device"/>'s LSE rows [batch, heads, shard length] of a whole [batch, heads, seqlen] array.</summary>
    public ArrayView<float> UploadRows(int device, float[] whole, int rows)
    {
        var data = RingShards.GatherRows(whole, rows, layout.SeqLen, layout.ChunksOf(device));
        var view = Allocate<float>(device, data.LongLength);
        if (data.Length > 0)
            ((ArrayView1D<float, Stride1D.Dense>)view.SubView(0, data.LongLength)).CopyFromCPU(data);
        return view.SubView(0, data.LongLength);
    }

    /// <summary>Room for device <paramref name="device"/>'s LSE rows.</summary>
    public ArrayView<float> Rows(int device, int rows)
    {
        long length = (long)rows * layout.ShardLength(device);
        return Allocate<float>(device, length).SubView(0, length);
    }

    /// <summary>A shard back into its positions of <paramref name="whole"/>.</summary>
    public void Download<T>(int device, DeviceTensor<T> shard, HostTensor<T> whole) where T : unmanaged
    {
        long length = shard.Layout.ElementCount;
        if (length == 0)
            return;
        var data = new T[length];
        engines[device].Accelerator.Bind();
        ((ArrayView1D<T, Stride1D.Dense>)shard.View.SubView(0, length)).CopyToCPU(data);
        RingShards.Scatter(data, layout.ChunksOf(device), whole);
    }

    /// <summary>LSE rows back into their positions of the whole [batch, heads, seqlen] array.</summary>
    public void DownloadRows(int device, ArrayView<float> part, int rows, float[] whole)
    {
        if (part.Length == 0)
            return;
        var data = new float[part.Length];
        engines[device].Accelerator.Bind();
        ((ArrayView1D<float, Stride1D.Dense>)part).CopyToCPU(data);
        RingShards.ScatterRows(data, rows, layout.SeqLen, layout.ChunksOf(device), whole);
    }

    public void Dispose()
    {
        foreach (var buffer in buffers)
            buffer.Dispose();
    }
}
