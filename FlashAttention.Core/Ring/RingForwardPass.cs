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
    private readonly RingDevice[] devices;
    private readonly IRingTransport transport;
    private readonly TensorLayout queries;
    private readonly TensorLayout keys;
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

    public RingForwardPass(RingLayout layout, AttentionEngine[] engines, IRingTransport transport,
        HostTensor<T> qHost, HostTensor<T> kHost, HostTensor<T> vHost, AttentionOptions options)
    {
        this.layout = layout;
        this.transport = transport;
        queries = qHost.Layout;
        keys = kHost.Layout;
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
        long shardElements = RingShards.Elements(keys, Enumerable.Range(0, n).Max(layout.ShardLength));
        int longestChunk = layout.Chunks.Max(c => c.Length);
        long chunkRows = (long)queries.Batch * queries.Heads * longestChunk;
        try
        {
            for (int i = 0; i < n; i++)
            {
                var dev = devices[i] = new RingDevice(engines[i], layout.ChunksOf(i));
                q[i] = [.. dev.Chunks.Select(c => new DeviceTensor<T>(dev.Upload(RingShards.Gather(qHost, [c])),
                    RingShards.SequenceMajor(queries.Batch, c.Length, queries.Heads, queries.HeadDim)))];
                k[i] = [dev.Allocate<T>(shardElements), dev.Allocate<T>(shardElements)];
                v[i] = [dev.Allocate<T>(shardElements), dev.Allocate<T>(shardElements)];
                Put(k[i][0], RingShards.Gather(kHost, dev.Chunks));
                Put(v[i][0], RingShards.Gather(vHost, dev.Chunks));
                long[] rows = [.. dev.Chunks.Select(c => (long)queries.Batch * queries.Heads * c.Length)];
                runningO[i] = [.. rows.Select(r => dev.Allocate<float>(r * queries.HeadDim))];
                runningLse[i] = [.. rows.Select(r => dev.Filled(r, float.NegativeInfinity))]; // the empty state FoldPartial starts from
                partO[i] = dev.Allocate<T>(chunkRows * queries.HeadDim);
                partOFloat[i] = typeof(T) == typeof(float) ? partO[i].Cast<float>() : dev.Allocate<float>(chunkRows * queries.HeadDim);
                partLse[i] = dev.Allocate<float>(chunkRows);
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    private static void Put(ArrayView<T> view, T[] data)
    {
        if (data.Length > 0)
            ((ArrayView1D<T, Stride1D.Dense>)view.SubView(0, data.LongLength)).CopyFromCPU(data);
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
            long count = RingShards.Elements(keys, layout.ShardLength(layout.ShardSource(previous, step)));
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
            int d = queries.HeadDim;
            foreach (var block in layout.Blocks(device, step))
            {
                int length = block.Query.Length;
                long rows = (long)queries.Batch * queries.Heads * length;
                var keyLayout = RingShards.SequenceMajor(keys.Batch, block.KeyLength, keys.Heads, d);
                engine.Forward(q[device][block.QueryChunk], new DeviceTensor<T>(k[device][slot], keyLayout),
                    new DeviceTensor<T>(v[device][slot], keyLayout), DeviceTensor<T>.Bhsd(partO[device], queries.Batch, queries.Heads, length, d),
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

    /// <summary>Every device's running result, rounded to T, into the caller's output and LSE.</summary>
    public void Download(HostTensor<T> output, float[]? lse)
    {
        for (int i = 0; i < devices.Length; i++)
        {
            var chunks = devices[i].Chunks;
            for (int c = 0; c < chunks.Count; c++)
            {
                if (chunks[c].Length == 0)
                    continue;
                long rows = (long)queries.Batch * queries.Heads * chunks[c].Length;
                RingShards.ScatterOutput(devices[i].Download(runningO[i][c], rows * queries.HeadDim), chunks[c], output);
                if (lse is not null)
                    RingShards.ScatterRows(devices[i].Download(runningLse[i][c], rows), queries.Batch, queries.Heads, queries.SeqLen, chunks[c], lse);
            }
        }
    }

    public void Dispose()
    {
        foreach (var dev in devices)
            dev?.Dispose();
    }
}
