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
    private readonly RingShape shape;
    private readonly RingDevice[] devices;
    private readonly IRingTransport transport;
    private readonly AttentionOptions full;
    private readonly AttentionOptions causal;
    private readonly DeviceTensor<T>[][] q, dOut, o;
    private readonly ArrayView<float>[][] lse, dqSum;
    private readonly ArrayView<T>[][] k, v;
    private readonly ArrayView<float>[][] dkSum, dvSum;
    private readonly ArrayView<float>[] dkLocal, dvLocal, dkHome, dvHome;
    private readonly ArrayView<T>[] dqPart, dkPart, dvPart;

    /// <summary>
    /// Takes the shards (valid, checked by the caller): q, dO and O in place, each chunk's LSE rows and
    /// the keys and values copied into buffers of the ring's own.
    /// </summary>
    public RingBackwardPass(RingLayout layout, RingShape shape, AttentionEngine[] engines, IRingTransport transport,
        IReadOnlyList<RingShard<T>> shards, IReadOnlyList<DeviceTensor<T>> dOutShards, IReadOnlyList<DeviceTensor<T>> outputShards,
        IReadOnlyList<ArrayView<float>> lseShards, AttentionOptions options)
    {
        this.layout = layout;
        this.shape = shape;
        this.transport = transport;
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
        long slot = shape.KeyElements(Enumerable.Range(0, n).Max(layout.ShardLength));
        long chunk = shape.QueryElements(layout.Chunks.Max(c => c.Length));
        try
        {
            for (int i = 0; i < n; i++)
            {
                var dev = devices[i] = new RingDevice(engines[i], layout.ChunksOf(i));
                var chunks = dev.Chunks;
                int length = layout.ShardLength(i);
                q[i] = new DeviceTensor<T>[chunks.Count];
                dOut[i] = new DeviceTensor<T>[chunks.Count];
                o[i] = new DeviceTensor<T>[chunks.Count];
                lse[i] = new ArrayView<float>[chunks.Count];
                for (int c = 0, at = 0; c < chunks.Count; at += chunks[c].Length, c++)
                {
                    int len = chunks[c].Length;
                    q[i][c] = RingShards.Positions(shards[i].Q, at, len);
                    dOut[i][c] = RingShards.Positions(dOutShards[i], at, len);
                    o[i][c] = RingShards.Positions(outputShards[i], at, len);
                    lse[i][c] = dev.Allocate<float>(shape.Rows(len));
                    if (len > 0)
                        dev.Engine.CopyTensor(new DeviceTensor<float>(lseShards[i], shape.LseRows(len, length, at)),
                            new DeviceTensor<float>(lse[i][c], shape.LseRows(len, len, 0)));
                }
                dqSum[i] = [.. chunks.Select(c => dev.Filled(shape.QueryElements(c.Length), 0f))];
                k[i] = dev.Slots(shards[i].K, shape, length, slot);
                v[i] = dev.Slots(shards[i].V, shape, length, slot);
                dkSum[i] = [dev.Allocate<float>(slot), dev.Allocate<float>(slot)];
                dvSum[i] = [dev.Allocate<float>(slot), dev.Allocate<float>(slot)];
                dkLocal[i] = dev.Allocate<float>(slot);
                dvLocal[i] = dev.Allocate<float>(slot);
                // With one device the sum never leaves home.
                dkHome[i] = n == 1 ? dkSum[i][0] : dev.Allocate<float>(slot);
                dvHome[i] = n == 1 ? dvSum[i][0] : dev.Allocate<float>(slot);
                dqPart[i] = dev.Allocate<T>(chunk);
                dkPart[i] = dev.Allocate<T>(slot);
                dvPart[i] = dev.Allocate<T>(slot);
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
        long count = shape.KeyElements(layout.ShardLength(layout.ShardSource(device, step)));
        long next = step + 1 < n ? shape.KeyElements(layout.ShardLength(layout.ShardSource(previous, step))) : 0;
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
            int d = shape.HeadDim;
            foreach (var block in layout.Blocks(device, step))
            {
                int c = block.QueryChunk;
                var keyLayout = shape.Keys(block.KeyLength);
                var queryLayout = shape.Queries(block.Query.Length);
                engine.Backward(dOut[device][c], q[device][c], new DeviceTensor<T>(k[device][slot], keyLayout),
                    new DeviceTensor<T>(v[device][slot], keyLayout), o[device][c], lse[device][c].SubView(0, shape.Rows(block.Query.Length)),
                    new DeviceTensor<T>(dqPart[device], queryLayout), new DeviceTensor<T>(dkPart[device], keyLayout),
                    new DeviceTensor<T>(dvPart[device], keyLayout), block.Causal ? causal : full);
                engine.Widen(dqPart[device], dqSum[device][c], shape.QueryElements(block.Query.Length), add: true);
                // A prefix of a sequence-major shard is a prefix of its memory.
                long keyElements = shape.KeyElements(block.KeyLength);
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
        long count = shape.KeyElements(layout.ShardLength(device));
        devices[device].Bind();
        transport.Copy(dkSum[previous][slot].SubView(0, count), devices[previous].SendStream, dkHome[device].SubView(0, count), devices[device].ReceiveStream);
        transport.Copy(dvSum[previous][slot].SubView(0, count), devices[previous].SendStream, dvHome[device].SubView(0, count), devices[device].ReceiveStream);
    }

    /// <summary>Device <paramref name="device"/>'s gradients, rounded to T, into its gradient shard.</summary>
    public void Finish(int device, RingShard<T> gradients)
    {
        var dev = devices[device];
        dev.Bind();
        var chunks = dev.Chunks;
        for (int c = 0, at = 0; c < chunks.Count; at += chunks[c].Length, c++)
            if (chunks[c].Length > 0)
                dev.Engine.CopyTensor(new DeviceTensor<float>(dqSum[device][c], shape.Queries(chunks[c].Length)),
                    RingShards.Positions(gradients.Q, at, chunks[c].Length));
        int length = layout.ShardLength(device);
        if (length > 0)
        {
            dev.Engine.CopyTensor(new DeviceTensor<float>(dkHome[device], shape.Keys(length)), gradients.K);
            dev.Engine.CopyTensor(new DeviceTensor<float>(dvHome[device], shape.Keys(length)), gradients.V);
        }
        dev.Accelerator.Synchronize();
    }

    public void Dispose()
    {
        foreach (var dev in devices)
            dev?.Dispose();
    }
}
