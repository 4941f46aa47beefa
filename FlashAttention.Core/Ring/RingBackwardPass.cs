namespace FlashAttention;

/// <summary>
/// The state of one ring backward and its step. Every block runs the engine's ordinary backward with
/// the forward's global O and LSE rows of its query chunk: D = rowsum(dO ∘ O) then equals the global
/// one, and P = exp(S - LSE) the global probabilities, so each block's dQ, dK, dV are exactly its
/// share of the sums. dQ is summed in place in float32; the visiting shard's dK/dV sum travels with
/// it: at step s a device adds its blocks into a local float32 buffer while the sum so far arrives
/// from the previous device (with the next shard's K/V), then adds the two. After the last step each
/// sum is one hop from home.
/// </summary>
internal sealed class RingBackwardPass<T> : IDisposable where T : unmanaged
{
    private readonly RingLayout layout;
    private readonly RingDevice[] devices;
    private readonly IRingTransport transport;
    private readonly TensorLayout queries;
    private readonly TensorLayout keys;
    private readonly AttentionOptions full;
    private readonly AttentionOptions causal;
    private readonly DeviceTensor<T>[][] q, dOut, o;
    private readonly ArrayView<float>[][] lse, dqSum;
    private readonly ArrayView<T>[][] k, v;
    private readonly ArrayView<float>[][] dkSum, dvSum;
    private readonly ArrayView<float>[] dkLocal, dvLocal, dkHome, dvHome;
    private readonly ArrayView<T>[] dqPart, dkPart, dvPart;

    public RingBackwardPass(RingLayout layout, AttentionEngine[] engines, IRingTransport transport, HostTensor<T> dOutHost,
        HostTensor<T> qHost, HostTensor<T> kHost, HostTensor<T> vHost, HostTensor<T> oHost, float[] lseHost, AttentionOptions options)
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
        dOut = new DeviceTensor<T>[n][];
        o = new DeviceTensor<T>[n][];
        lse = new ArrayView<float>[n][];
        dqSum = new ArrayView<float>[n][];
        k = new ArrayView<T>[n][];
        v = new ArrayView<T>[n][];
        dkSum = new ArrayView<float>[n][];
        dvSum = new ArrayView<float>[n][];
        dkLocal = new ArrayView<float>[n];
        dvLocal = new ArrayView<float>[n];
        dkHome = new ArrayView<float>[n];
        dvHome = new ArrayView<float>[n];
        dqPart = new ArrayView<T>[n];
        dkPart = new ArrayView<T>[n];
        dvPart = new ArrayView<T>[n];
        long shard = RingShards.Elements(keys, Enumerable.Range(0, n).Max(layout.ShardLength));
        long chunk = RingShards.Elements(queries, layout.Chunks.Max(c => c.Length));
        try
        {
            for (int i = 0; i < n; i++)
            {
                var dev = devices[i] = new RingDevice(engines[i], layout.ChunksOf(i));
                q[i] = Chunks(dev, qHost);
                dOut[i] = Chunks(dev, dOutHost);
                o[i] = Chunks(dev, oHost);
                lse[i] = [.. dev.Chunks.Select(c => dev.Upload(RingShards.GatherRows(lseHost, queries.Batch, queries.Heads, queries.SeqLen, c)))];
                dqSum[i] = [.. dev.Chunks.Select(c => dev.Filled(RingShards.Elements(queries, c.Length), 0f))];
                k[i] = [dev.Allocate<T>(shard), dev.Allocate<T>(shard)];
                v[i] = [dev.Allocate<T>(shard), dev.Allocate<T>(shard)];
                Put(k[i][0], RingShards.Gather(kHost, dev.Chunks));
                Put(v[i][0], RingShards.Gather(vHost, dev.Chunks));
                dkSum[i] = [dev.Allocate<float>(shard), dev.Allocate<float>(shard)];
                dvSum[i] = [dev.Allocate<float>(shard), dev.Allocate<float>(shard)];
                dkLocal[i] = dev.Allocate<float>(shard);
                dvLocal[i] = dev.Allocate<float>(shard);
                // With one device the sum never leaves home.
                dkHome[i] = n == 1 ? dkSum[i][0] : dev.Allocate<float>(shard);
                dvHome[i] = n == 1 ? dvSum[i][0] : dev.Allocate<float>(shard);
                dqPart[i] = dev.Allocate<T>(chunk);
                dkPart[i] = dev.Allocate<T>(shard);
                dvPart[i] = dev.Allocate<T>(shard);
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    private DeviceTensor<T>[] Chunks(RingDevice dev, HostTensor<T> host) =>
        [.. dev.Chunks.Select(c => new DeviceTensor<T>(dev.Upload(RingShards.Gather(host, [c])),
            RingShards.SequenceMajor(queries.Batch, c.Length, queries.Heads, queries.HeadDim)))];

    private static void Put(ArrayView<T> view, T[] data)
    {
        if (data.Length > 0)
            ((ArrayView1D<T, Stride1D.Dense>)view.SubView(0, data.LongLength)).CopyFromCPU(data);
    }

    private static void Zero(ArrayView<float> view, long count, AcceleratorStream stream)
    {
        if (count > 0)
            ((ArrayView1D<float, Stride1D.Dense>)view.SubView(0, count)).MemSetToZero(stream);
    }

    /// <summary>Device <paramref name="device"/>'s step <paramref name="step"/>.</summary>
    public void Step(int device, int step)
    {
        int n = devices.Length, slot = step & 1, previous = (device + n - 1) % n;
        var dev = devices[device];
        dev.Bind();
        var from = devices[previous];
        long count = RingShards.Elements(keys, layout.ShardLength(layout.ShardSource(device, step)));
        long next = step + 1 < n ? RingShards.Elements(keys, layout.ShardLength(layout.ShardSource(previous, step))) : 0;
        Task? receive = null;
        if ((step > 0 && count > 0) || next > 0)
        {
            receive = RingAttention.Start(() =>
            {
                // The sum first: this step waits for it; the next shard only the next step does.
                if (step > 0 && count > 0)
                {
                    transport.Copy(dkSum[previous][1 - slot].SubView(0, count), from.SendStream, dkSum[device][slot].SubView(0, count), dev.ReceiveStream);
                    transport.Copy(dvSum[previous][1 - slot].SubView(0, count), from.SendStream, dvSum[device][slot].SubView(0, count), dev.ReceiveStream);
                }
                if (next > 0)
                {
                    transport.Copy(k[previous][slot].SubView(0, next), from.SendStream, k[device][1 - slot].SubView(0, next), dev.ReceiveStream);
                    transport.Copy(v[previous][slot].SubView(0, next), from.SendStream, v[device][1 - slot].SubView(0, next), dev.ReceiveStream);
                }
            });
        }
        var engine = dev.Engine;
        var stream = dev.Accelerator.DefaultStream;
        // At step 0 nothing arrives: the device's own blocks start the shard's sum.
        var dk = step == 0 ? dkSum[device][0] : dkLocal[device];
        var dv = step == 0 ? dvSum[device][0] : dvLocal[device];
        try
        {
            Zero(dk, count, stream);
            Zero(dv, count, stream);
            int d = queries.HeadDim;
            foreach (var block in layout.Blocks(device, step))
            {
                int c = block.QueryChunk;
                var keyLayout = RingShards.SequenceMajor(keys.Batch, block.KeyLength, keys.Heads, d);
                var queryLayout = RingShards.SequenceMajor(queries.Batch, block.Query.Length, queries.Heads, d);
                engine.Backward(dOut[device][c], q[device][c], new DeviceTensor<T>(k[device][slot], keyLayout),
                    new DeviceTensor<T>(v[device][slot], keyLayout), o[device][c], lse[device][c].SubView(0, (long)queries.Batch * queries.Heads * block.Query.Length),
                    new DeviceTensor<T>(dqPart[device], queryLayout), new DeviceTensor<T>(dkPart[device], keyLayout),
                    new DeviceTensor<T>(dvPart[device], keyLayout), block.Causal ? causal : full);
                engine.Widen(dqPart[device], dqSum[device][c], RingShards.Elements(queries, block.Query.Length), add: true);
                // A prefix of a sequence-major shard is a prefix of its memory.
                long keyElements = RingShards.Elements(keys, block.KeyLength);
                engine.Widen(dkPart[device], dk, keyElements, add: true);
                engine.Widen(dvPart[device], dv, keyElements, add: true);
            }
            dev.Accelerator.Synchronize();
        }
        finally
        {
            receive?.GetAwaiter().GetResult();
        }
        if (step > 0 && count > 0)
        {
            engine.Widen(dkLocal[device], dkSum[device][slot], count, add: true);
            engine.Widen(dvLocal[device], dvSum[device][slot], count, add: true);
            dev.Accelerator.Synchronize();
        }
    }

    /// <summary>After the last step: device i holds the sum of device i + 1's shard; send each home.</summary>
    public void SendHome(int device)
    {
        int n = devices.Length;
        if (n == 1)
            return;
        int previous = (device + n - 1) % n, slot = (n - 1) & 1;
        long count = RingShards.Elements(keys, layout.ShardLength(device));
        devices[device].Bind();
        transport.Copy(dkSum[previous][slot].SubView(0, count), devices[previous].SendStream, dkHome[device].SubView(0, count), devices[device].ReceiveStream);
        transport.Copy(dvSum[previous][slot].SubView(0, count), devices[previous].SendStream, dvHome[device].SubView(0, count), devices[device].ReceiveStream);
    }

    /// <summary>The gradients, rounded to T, into the caller's tensors.</summary>
    public void Download(HostTensor<T> dq, HostTensor<T> dk, HostTensor<T> dv)
    {
        for (int i = 0; i < devices.Length; i++)
        {
            var chunks = devices[i].Chunks;
            for (int c = 0; c < chunks.Count; c++)
                RingShards.Scatter(devices[i].Download(dqSum[i][c], RingShards.Elements(queries, chunks[c].Length)), [chunks[c]], dq);
            long count = RingShards.Elements(keys, layout.ShardLength(i));
            RingShards.Scatter(devices[i].Download(dkHome[i], count), chunks, dk);
            RingShards.Scatter(devices[i].Download(dvHome[i], count), chunks, dv);
        }
    }

    public void Dispose()
    {
        foreach (var dev in devices)
            dev?.Dispose();
    }
}
