using FlashAttention.Reference;
using FlashAttention.Tests.Support;

namespace FlashAttention.Tests;

/// <summary>
/// Ring attention over 2-4 CPU accelerators against the float64 reference (FlashAttention's rule:
/// error at most 2 x the naive low-precision error + slack) and against one engine over the whole
/// sequence (the same bound on the difference). Outputs are poisoned with NaN first, so a position
/// the ring leaves unwritten fails. Lengths that do not divide over the chunks, GQA/MQA, a custom
/// scale, soft cap, fp32/fp16 (bf16 forward), and sequences shorter than the chunk count (empty chunks) included.
/// </summary>
public class RingAttentionTests
{
    public sealed record RingCase(int Devices, int SeqLen, int HeadsQ, int HeadsKv, int HeadDim, bool Causal, float? Scale = null, float Softcap = 0,
        int Batch = 1)
    {
        public override string ToString() =>
            $"ring{Devices}{(Batch != 1 ? $" b{Batch}" : "")} s{SeqLen} hq{HeadsQ} hkv{HeadsKv} d{HeadDim}{(Causal ? " causal" : "")}{(Scale is { } s ? $" scale{s}" : "")}" +
            $"{(Softcap != 0 ? $" softcap{Softcap}" : "")}";

        public AttentionOptions Options => new() { Causal = Causal, Scale = Scale, Softcap = Softcap, ReturnLse = true };

        /// <summary>The forward judge of the single-device tests, for the same shape and options.</summary>
        public ForwardCase Judge => new(Batch, SeqLen, SeqLen, HeadsQ, HeadsKv, HeadDim, Causal, Scale: Scale, Softcap: Softcap);
    }

    public static TheoryData<string, RingCase> Forwards() => new()
    {
        { "float32", new RingCase(2, 64, 2, 2, 32, Causal: false) },
        { "float32", new RingCase(3, 113, 4, 2, 32, Causal: true) },
        { "float32", new RingCase(2, 50, 2, 1, 32, Causal: true, Softcap: 5f) },
        { "float32", new RingCase(3, 19, 2, 1, 32, Causal: true, Batch: 2) },
        { "float32", new RingCase(4, 3, 2, 2, 32, Causal: true) },   // 8 chunks, 5 empty; device 3 holds nothing
        { "float16", new RingCase(4, 67, 2, 1, 32, Causal: true, Scale: 0.3f) },
        { "float16", new RingCase(3, 37, 2, 2, 32, Causal: false) },
        { "bfloat16", new RingCase(2, 50, 4, 2, 32, Causal: true) },
        { "float16", new RingCase(3, 2, 2, 2, 32, Causal: false) },  // one device holds no position
    };

    public static TheoryData<string, RingCase> Backwards() => new()
    {
        { "float32", new RingCase(2, 24, 2, 2, 32, Causal: false) },
        { "float32", new RingCase(3, 21, 4, 2, 32, Causal: true) },   // 6 chunks of 4 and 3
        { "float32", new RingCase(4, 5, 2, 1, 32, Causal: true) },    // 8 chunks, 3 empty
        { "float32", new RingCase(2, 23, 2, 2, 32, Causal: true, Batch: 2) },
        { "float16", new RingCase(4, 25, 2, 1, 32, Causal: true, Scale: 0.3f) },
        { "float16", new RingCase(3, 41, 2, 2, 32, Causal: false) },
    };

    [Theory]
    [MemberData(nameof(Forwards))]
    public void Forward_matches_one_engine_and_the_reference(string dtype, RingCase c)
    {
        switch (dtype)
        {
            case "float16": Forward<Half>(c); break;
            case "bfloat16": Forward<BFloat16>(c); break;
            default: Forward<float>(c); break;
        }
    }

    [Theory]
    [MemberData(nameof(Backwards))]
    public void Backward_matches_one_engine_and_the_reference(string dtype, RingCase c)
    {
        if (dtype == "float16") Backward<Half>(c); else Backward<float>(c);
    }

    private static void Forward<T>(RingCase c) where T : unmanaged
    {
        string name = $"{Elements.Name<T>()} {c}";
        var rng = new RandomTensors(RandomTensors.SeedFor(name));
        var q = rng.Bshd<T>(c.Batch, c.SeqLen, c.HeadsQ, c.HeadDim);
        var k = rng.Bshd<T>(c.Batch, c.SeqLen, c.HeadsKv, c.HeadDim);
        var v = rng.Bshd<T>(c.Batch, c.SeqLen, c.HeadsKv, c.HeadDim);
        var output = GradientJudge.Poisoned<T>(q.Layout);
        var lse = Enumerable.Repeat(float.NaN, c.Batch * c.HeadsQ * c.SeqLen).ToArray();

        RingEngines.Ring(c.Devices).Forward(q, k, v, output, lse, c.Options);

        float scale = c.Options.ScaleFor(c.HeadDim);
        c.Judge.Judge(name, rng.Seed, q, k, v, scale, output, lse);
        var single = RingEngines.Take(1)[0].Forward(q, k, v, c.Options);
        var naive = NaiveAttention.Forward(q, k, v, scale, c.Causal, c.Options);
        var reference = ReferenceAttention.Forward(q, k, v, c.Options);
        SameAsOneEngine(name, "O", reference.Output, naive.Output, single.Output.Data, output.Data);
        var bar = Accuracy.MaxError(reference.Lse, i => naive.Lse[i]).Error;
        var diff = Accuracy.MaxError([.. single.Lse!.Select(x => (double)x)], i => lse[i]);
        diff.Error.Should().BeLessThanOrEqualTo(2 * bar + Accuracy.Slack<T>(), $"LSE of {name}: ring vs one engine at {diff.Index}");
    }

    private static void Backward<T>(RingCase c) where T : unmanaged
    {
        string name = $"{Elements.Name<T>()} backward {c}";
        var rng = new RandomTensors(RandomTensors.SeedFor(name));
        var q = rng.Bshd<T>(c.Batch, c.SeqLen, c.HeadsQ, c.HeadDim);
        var k = rng.Bshd<T>(c.Batch, c.SeqLen, c.HeadsKv, c.HeadDim);
        var v = rng.Bshd<T>(c.Batch, c.SeqLen, c.HeadsKv, c.HeadDim);
        var dOut = rng.Bshd<T>(c.Batch, c.SeqLen, c.HeadsQ, c.HeadDim);
        var ring = RingEngines.Ring(c.Devices);
        var forward = ring.Forward(q, k, v, c.Options);
        var dq = GradientJudge.Poisoned<T>(q.Layout);
        var dk = GradientJudge.Poisoned<T>(k.Layout);
        var dv = GradientJudge.Poisoned<T>(k.Layout);

        ring.Backward(dOut, q, k, v, forward.Output, forward.Lse!, dq, dk, dv, c.Options);

        var reference = ReferenceAttention.Backward(dOut, q, k, v, c.Options);
        var naive = NaiveBackward.Run(dOut, q, k, v, c.Options.ScaleFor(c.HeadDim), c.Causal, c.Options);
        GradientJudge.Check(name, rng.Seed, "dQ", reference.DQ, naive.DQ, dq);
        GradientJudge.Check(name, rng.Seed, "dK", reference.DK, naive.DK, dk);
        GradientJudge.Check(name, rng.Seed, "dV", reference.DV, naive.DV, dv);
        var single = RingEngines.Take(1)[0].Backward(dOut, q, k, v, forward.Output, forward.Lse!, c.Options);
        SameAsOneEngine(name, "dQ", reference.DQ, naive.DQ, single.DQ.Data, dq.Data);
        SameAsOneEngine(name, "dK", reference.DK, naive.DK, single.DK.Data, dk.Data);
        SameAsOneEngine(name, "dV", reference.DV, naive.DV, single.DV.Data, dv.Data);
    }

    /// <summary>
    /// Every copy goes through the ring's transport: forward, each device receives the other N - 1 shards
    /// (K and V); backward, those again, the dK/dV sums at steps 1..N-1, and the final hop home.
    /// </summary>
    [Fact]
    public void Shards_move_through_the_given_transport()
    {
        var transport = new CountingTransport();
        var ring = new RingAttention(RingEngines.Take(3), transport);
        var rng = new RandomTensors(5);
        var q = rng.Bshd<float>(1, 12, 2, 32);
        var options = new AttentionOptions { ReturnLse = true };
        var forward = ring.Forward(q, q, q, options);
        transport.Copies.Should().Be(3 * 2 * 2);
        transport.Copies = 0;
        ring.Backward(q, q, q, q, forward.Output, forward.Lse!, options);
        transport.Copies.Should().Be(3 * 2 * 2 + 3 * 2 * 2 + 3 * 2);
    }

    /// <summary>
    /// The device-resident forms on shards the caller laid out ([batch, shard, heads, d] inputs, a
    /// [batch, heads, shard, d] output, batch 2): bit for bit the host forms' results, which the
    /// accuracy cases above judge. Nothing but the layouts differs between the two.
    /// </summary>
    [Fact]
    public void Device_shards_give_the_host_forms_results()
    {
        const int devices = 2, seq = 13, batch = 2, hq = 2, hkv = 1, d = 32;
        var rng = new RandomTensors(13);
        var (q, k, v, dOut) = (rng.Bshd<float>(batch, seq, hq, d), rng.Bshd<float>(batch, seq, hkv, d), rng.Bshd<float>(batch, seq, hkv, d),
            rng.Bshd<float>(batch, seq, hq, d));
        var options = new AttentionOptions { Causal = true, ReturnLse = true };
        var ring = RingEngines.Ring(devices);
        var host = ring.Forward(q, k, v, options);
        var hostGrads = ring.Backward(dOut, q, k, v, host.Output, host.Lse!, options);

        var layout = ring.LayoutFor(seq, causal: true);
        var buffers = new List<MemoryBuffer>();
        ArrayView<float> Put(int device, float[] data)
        {
            var b = ring.Engines[device].Accelerator.Allocate1D(data.Length == 0 ? [0f] : data);
            buffers.Add(b);
            return b.View;
        }
        static float[] Host(ArrayView<float> view) => ((ArrayView1D<float, Stride1D.Dense>)view).GetAsArray1D();
        // Device i's positions of a whole tensor, [batch, shard, heads, d].
        float[] Shard(HostTensor<float> whole, int device)
        {
            int[] positions = [.. layout.ChunksOf(device).SelectMany(c => Enumerable.Range(c.Start, c.Length))];
            int heads = whole.Layout.Heads;
            var data = new float[batch * positions.Length * heads * d];
            for (int b = 0; b < batch; b++)
            for (int t = 0; t < positions.Length; t++)
            for (int h = 0; h < heads; h++)
                Array.Copy(whole.Data, whole.Layout.IndexOf(b, positions[t], h, 0), data, ((b * positions.Length + t) * heads + h) * d, d);
            return data;
        }
        try
        {
            var shards = new RingShard<float>[devices];
            var outputs = new DeviceTensor<float>[devices];
            var lse = new ArrayView<float>[devices];
            var dOuts = new DeviceTensor<float>[devices];
            var grads = new RingShard<float>[devices];
            for (int i = 0; i < devices; i++)
            {
                int n = layout.ShardLength(i);
                shards[i] = new RingShard<float>(DeviceTensor<float>.Bshd(Put(i, Shard(q, i)), batch, n, hq, d),
                    DeviceTensor<float>.Bshd(Put(i, Shard(k, i)), batch, n, hkv, d), DeviceTensor<float>.Bshd(Put(i, Shard(v, i)), batch, n, hkv, d));
                outputs[i] = DeviceTensor<float>.Bhsd(Put(i, Enumerable.Repeat(float.NaN, batch * n * hq * d).ToArray()), batch, hq, n, d);
                lse[i] = Put(i, Enumerable.Repeat(float.NaN, batch * hq * n).ToArray()).SubView(0, batch * hq * n);
                dOuts[i] = DeviceTensor<float>.Bshd(Put(i, Shard(dOut, i)), batch, n, hq, d);
                grads[i] = new RingShard<float>(DeviceTensor<float>.Bshd(Put(i, new float[batch * n * hq * d]), batch, n, hq, d),
                    DeviceTensor<float>.Bshd(Put(i, new float[batch * n * hkv * d]), batch, n, hkv, d),
                    DeviceTensor<float>.Bshd(Put(i, new float[batch * n * hkv * d]), batch, n, hkv, d));
            }
            ring.Forward(seq, shards, outputs, lse, options);
            ring.Backward(seq, shards, dOuts, outputs, lse, grads, options);

            for (int i = 0; i < devices; i++)
            {
                int[] positions = [.. layout.ChunksOf(i).SelectMany(c => Enumerable.Range(c.Start, c.Length))];
                var o = Host(outputs[i].View);
                var l = Host(lse[i]);
                var (gq, gk, gv) = (Host(grads[i].Q.View), Host(grads[i].K.View), Host(grads[i].V.View));
                for (int b = 0; b < batch; b++)
                for (int t = 0; t < positions.Length; t++)
                {
                    int p = positions[t];
                    for (int h = 0; h < hq; h++)
                    {
                        l[(b * hq + h) * positions.Length + t].Should().Be(host.Lse![(b * hq + h) * seq + p], $"LSE of device {i}, ({b}, {p}, {h})");
                        for (int e = 0; e < d; e++)
                        {
                            o[outputs[i].Layout.IndexOf(b, t, h, e)].Should().Be(host.Output[b, p, h, e], $"O of device {i}, ({b}, {p}, {h}, {e})");
                            gq[grads[i].Q.Layout.IndexOf(b, t, h, e)].Should().Be(hostGrads.DQ[b, p, h, e], $"dQ of device {i}, ({b}, {p}, {h}, {e})");
                        }
                    }
                    for (int h = 0; h < hkv; h++)
                    for (int e = 0; e < d; e++)
                    {
                        gk[grads[i].K.Layout.IndexOf(b, t, h, e)].Should().Be(hostGrads.DK[b, p, h, e], $"dK of device {i}, ({b}, {p}, {h}, {e})");
                        gv[grads[i].V.Layout.IndexOf(b, t, h, e)].Should().Be(hostGrads.DV[b, p, h, e], $"dV of device {i}, ({b}, {p}, {h}, {e})");
                    }
                }
            }
        }
        finally
        {
            foreach (var b in buffers)
                b.Dispose();
        }
    }

    private sealed class CountingTransport : IRingTransport
    {
        public int Copies;

        public void Copy<TElement>(ArrayView<TElement> source, AcceleratorStream sourceStream, ArrayView<TElement> target, AcceleratorStream targetStream)
            where TElement : unmanaged
        {
            Interlocked.Increment(ref Copies);
            HostStagedTransport.Instance.Copy(source, sourceStream, target, targetStream);
        }
    }

    /// <summary>|ring - one engine| within the bound each must meet against the reference.</summary>
    private static void SameAsOneEngine<T>(string name, string what, double[] reference, double[] naive, T[] single, T[] ring) where T : unmanaged
    {
        double bound = 2 * Accuracy.MaxError(reference, i => naive[i]).Error + Accuracy.Slack<T>();
        var diff = Accuracy.MaxError([.. single.Select(x => (double)Elements.ToSingle(x))], i => Elements.ToSingle(ring[i]));
        diff.Error.Should().BeLessThanOrEqualTo(bound, $"{what} of {name}: ring vs one engine differs by {diff.Error:E3} at flat index {diff.Index}");
    }
}
