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
    public sealed record RingCase(int Devices, int SeqLen, int HeadsQ, int HeadsKv, int HeadDim, bool Causal, float? Scale = null, float Softcap = 0)
    {
        public override string ToString() =>
            $"ring{Devices} s{SeqLen} hq{HeadsQ} hkv{HeadsKv} d{HeadDim}{(Causal ? " causal" : "")}{(Scale is { } s ? $" scale{s}" : "")}" +
            $"{(Softcap != 0 ? $" softcap{Softcap}" : "")}";

        public AttentionOptions Options => new() { Causal = Causal, Scale = Scale, Softcap = Softcap, ReturnLse = true };

        /// <summary>The forward judge of the single-device tests, for the same shape and options.</summary>
        public ForwardCase Judge => new(1, SeqLen, SeqLen, HeadsQ, HeadsKv, HeadDim, Causal, Scale: Scale, Softcap: Softcap);
    }

    public static TheoryData<string, RingCase> Forwards() => new()
    {
        { "float32", new RingCase(2, 64, 2, 2, 32, Causal: false) },
        { "float32", new RingCase(3, 113, 4, 2, 32, Causal: true) },
        { "float32", new RingCase(2, 50, 2, 1, 32, Causal: true, Softcap: 5f) },
        { "float32", new RingCase(4, 3, 2, 2, 32, Causal: true) },   // 8 chunks, 5 empty; device 3 holds nothing
        { "float16", new RingCase(4, 67, 2, 1, 32, Causal: true, Scale: 0.3f) },
        { "float16", new RingCase(3, 37, 2, 2, 32, Causal: false) },
        { "bfloat16", new RingCase(2, 50, 4, 2, 32, Causal: true) },
        { "float16", new RingCase(3, 2, 2, 2, 32, Causal: false) },  // one device holds no position
    };

    public static TheoryData<string, RingCase> Backwards() => new()
    {
        { "float32", new RingCase(2, 40, 2, 2, 32, Causal: false) },
        { "float32", new RingCase(3, 29, 4, 2, 32, Causal: true) },   // 6 chunks of 5 and 4
        { "float32", new RingCase(4, 5, 2, 1, 32, Causal: true) },    // 8 chunks, 3 empty
        { "float16", new RingCase(4, 45, 2, 1, 32, Causal: true, Scale: 0.3f) },
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
        var q = rng.Bshd<T>(1, c.SeqLen, c.HeadsQ, c.HeadDim);
        var k = rng.Bshd<T>(1, c.SeqLen, c.HeadsKv, c.HeadDim);
        var v = rng.Bshd<T>(1, c.SeqLen, c.HeadsKv, c.HeadDim);
        var output = GradientJudge.Poisoned<T>(q.Layout);
        var lse = Enumerable.Repeat(float.NaN, c.HeadsQ * c.SeqLen).ToArray();

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
        var q = rng.Bshd<T>(1, c.SeqLen, c.HeadsQ, c.HeadDim);
        var k = rng.Bshd<T>(1, c.SeqLen, c.HeadsKv, c.HeadDim);
        var v = rng.Bshd<T>(1, c.SeqLen, c.HeadsKv, c.HeadDim);
        var dOut = rng.Bshd<T>(1, c.SeqLen, c.HeadsQ, c.HeadDim);
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
