namespace FlashAttention;

/// <summary>
/// The state of one ring forward and its step: each device keeps, per query chunk, a running float32
/// (O, LSE) in LSE order that every block's partial result is folded into with
/// <see cref="AttentionEngine.FoldPartial"/> (the merge split-KV decoding uses), while the next
/// key/value shard is already on its way into the other slot.
/// </summary>
internal sealed class RingForwardPass<T> : IDisposable where T : unmanaged
{
    private readonly RingLayout layout;
    private readonly RingShape shape;
    private readonly RingDevice[] devices;
    private readonly IRingTransport transport;
    private readonly AttentionOptions full;
    private readonly AttentionOptions causal;
    private readonly DeviceTensor<T>[][] q;
    private readonly ArrayView<T>[][] k;
    private readonly ArrayView<T>[][] v;
    private readonly ArrayView<float>[][] runningO;
    private readonly ArrayView<float>[][] runningLse;
    private readonly ArrayView<T>[] partO;
    private readonly ArrayView<float>[] partOFloat;
    private readonly ArrayView<float>[] partLse;

    /// <summary>Takes the shards (valid, checked by the caller): queries in place, keys and values copied into slot 0.</summary>
    public RingForwardPass(RingLayout layout, RingShape shape, AttentionEngine[] engines, IRingTransport transport,
        IReadOnlyList<RingShard<T>> shards, AttentionOptions options)
    {
        this.layout = layout;
        this.shape = shape;
        this.transport = transport;
        full = options with { Causal = false, ReturnLse = false };
        causal = options with { Causal = true, ReturnLse = false };
        int n = engines.Length;
        devices = new RingDevice[n];
        q = new DeviceTensor<T>[n][];
        k = new ArrayView<T>[n][];
        v = new ArrayView<T>[n][];
        runningO = new ArrayView<float>[n][];
        runningLse = new ArrayView<float>[n][];
        partO = new ArrayView<T>[n];
        partOFloat = new ArrayView<float>[n];
        partLse = new ArrayView<float>[n];
        long slot = shape.KeyElements(Enumerable.Range(0, n).Max(layout.ShardLength));
        long chunkRows = shape.Rows(layout.Chunks.Max(c => c.Length));
        try
        {
            for (int i = 0; i < n; i++)
            {
                var dev = devices[i] = new RingDevice(engines[i], layout.ChunksOf(i));
                var chunks = dev.Chunks;
                q[i] = new DeviceTensor<T>[chunks.Count];
                for (int c = 0, at = 0; c < chunks.Count; at += chunks[c].Length, c++)
                    q[i][c] = RingShards.Positions(shards[i].Q, at, chunks[c].Length);
                int length = layout.ShardLength(i);
                k[i] = dev.Slots(shards[i].K, shape, length, slot);
                v[i] = dev.Slots(shards[i].V, shape, length, slot);
                runningO[i] = [.. chunks.Select(c => dev.Allocate<float>(shape.Rows(c.Length) * shape.HeadDim))];
                runningLse[i] = [.. chunks.Select(c => dev.Filled(shape.Rows(c.Length), float.NegativeInfinity))]; // the empty state FoldPartial starts from
                partO[i] = dev.Allocate<T>(chunkRows * shape.HeadDim);
                partOFloat[i] = typeof(T) == typeof(float) ? partO[i].Cast<float>() : dev.Allocate<float>(chunkRows * shape.HeadDim);
                partLse[i] = dev.Allocate<float>(chunkRows);
                // The next device reads slot 0 on another stream at step 0.
                dev.Accelerator.Synchronize();
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Device <paramref name="device"/>'s step <paramref name="step"/>: send on the shard it holds while computing on it.</summary>
    public void Step(int device, int step)
    {
        int n = devices.Length, slot = step & 1, previous = (device + n - 1) % n;
        var dev = devices[device];
        dev.Bind();
        Task? receive = null;
        if (step + 1 < n)
        {
            // What the previous device holds now is what this one computes on next.
            long count = shape.KeyElements(layout.ShardLength(layout.ShardSource(previous, step)));
            if (count > 0)
            {
                var from = devices[previous];
                receive = RingAttention.Start(() =>
                {
                    transport.Copy(k[previous][slot].SubView(0, count), from.SendStream, k[device][1 - slot].SubView(0, count), dev.ReceiveStream);
                    transport.Copy(v[previous][slot].SubView(0, count), from.SendStream, v[device][1 - slot].SubView(0, count), dev.ReceiveStream);
                });
            }
        }
        try
        {
            var engine = dev.Engine;
            int d = shape.HeadDim;
            foreach (var block in layout.Blocks(device, step))
            {
                int length = block.Query.Length;
                long rows = shape.Rows(length);
                var keyLayout = shape.Keys(block.KeyLength);
                engine.Forward(q[device][block.QueryChunk], new DeviceTensor<T>(k[device][slot], keyLayout),
                    new DeviceTensor<T>(v[device][slot], keyLayout), DeviceTensor<T>.Bhsd(partO[device], shape.Batch, shape.HeadsQ, length, d),
                    partLse[device].SubView(0, rows), block.Causal ? causal : full);
                if (typeof(T) != typeof(float))
                    engine.Widen(partO[device], partOFloat[device], rows * d, add: false);
                engine.FoldPartial(runningO[device][block.QueryChunk].SubView(0, rows * d), runningLse[device][block.QueryChunk].SubView(0, rows),
                    partOFloat[device].SubView(0, rows * d), partLse[device].SubView(0, rows), d);
            }
            dev.Accelerator.Synchronize();
        }
        finally
        {
            receive?.GetAwaiter().GetResult();
        }
    }

    /// <summary>Device <paramref name="device"/>'s running result, rounded to T, into its output shard and LSE rows (an empty view skips them).</summary>
    public void Finish(int device, DeviceTensor<T> output, ArrayView<float> lse)
    {
        var dev = devices[device];
        dev.Bind();
        var chunks = dev.Chunks;
        int shardLength = layout.ShardLength(device);
        for (int c = 0, at = 0; c < chunks.Count; at += chunks[c].Length, c++)
        {
            int length = chunks[c].Length;
            if (length == 0)
                continue;
            dev.Engine.CopyTensor(new DeviceTensor<float>(runningO[device][c], TensorLayout.Bhsd(shape.Batch, shape.HeadsQ, length, shape.HeadDim)),
                RingShards.Positions(output, at, length));
            if (lse.Length != 0)
                dev.Engine.CopyTensor(new DeviceTensor<float>(runningLse[device][c], shape.LseRows(length, length, 0)),
                    new DeviceTensor<float>(lse, shape.LseRows(length, shardLength, at)));
        }
        dev.Accelerator.Synchronize();
    }

    public void Dispose()
    {
        foreach (var dev in devices)
            dev?.Dispose();
    }
}
