using FlashAttention.Kernels.Launch;
using FlashAttention.Reference;
using FlashAttention.Tests.Support;

namespace FlashAttention.Tests;

/// <summary>
/// The merge of partial attention results (O_i, LSE_i) -> (O, LSE), which split-KV decoding uses and
/// ring attention will: the N-part kernel and the in-place fold against the float64 merge, and the
/// float64 merge itself against attention over the whole key set.
/// </summary>
public class PartialMergeTests
{
    private static AttentionEngine Engine => TestDevice.Engine;

    /// <summary>Parts with ordinary LSEs, parts that saw no key (-inf), and rows that no part saw.</summary>
    private static (float[] O, float[] Lse) Parts(int parts, int rows, int d, int seed)
    {
        var random = new Random(seed);
        var o = new float[parts * rows * d];
        var lse = new float[parts * rows];
        for (int i = 0; i < o.Length; i++)
            o[i] = (float)(random.NextDouble() * 2 - 1);
        for (int i = 0; i < parts; i++)
        for (int r = 0; r < rows; r++)
        {
            bool empty = r == rows - 1 || random.Next(4) == 0; // the last row: every part empty
            lse[i * rows + r] = empty ? float.NegativeInfinity : (float)(random.NextDouble() * 40 - 20);
            if (empty)
                for (int e = 0; e < d; e++)
                    o[(i * rows + r) * d + e] = 0f; // a part that saw no key writes O_i = 0
        }
        return (o, lse);
    }

    private static (double[] O, double[] Lse) Expected(float[] o, float[] lse, int parts, int rows, int d) =>
        ReferencePartialMerge.Merge(
            Enumerable.Range(0, parts).Select(i => o.Skip(i * rows * d).Take(rows * d).Select(x => (double)x).ToArray()).ToList(),
            Enumerable.Range(0, parts).Select(i => lse.Skip(i * rows).Take(rows).Select(x => (double)x).ToArray()).ToList(), d);

    [Theory]
    [InlineData("float32", 1)]
    [InlineData("float32", 5)]
    [InlineData("float16", 3)]
    [InlineData("bfloat16", 64)]
    public void Merge_matches_float64(string dtype, int parts)
    {
        switch (dtype)
        {
            case "float32": Merge<float>(parts); break;
            case "float16": Merge<Half>(parts); break;
            default: Merge<BFloat16>(parts); break;
        }
    }

    private static void Merge<T>(int parts) where T : unmanaged
    {
        int batch = 2, seq = 3, heads = 4, d = 40, rows = batch * heads * seq;
        var (o, lse) = Parts(parts, rows, d, parts * 31);
        var acc = Engine.Accelerator;
        using var dO = acc.Allocate1D(o);
        using var dLse = acc.Allocate1D(lse);
        using var output = acc.Allocate1D(DecodeCase.Poisoned<T>(rows * d));
        using var outLse = acc.Allocate1D(Enumerable.Repeat(float.NaN, rows).ToArray());
        Engine.MergePartials(dO.View, dLse.View, parts, DeviceTensor<T>.Bshd(output.View, batch, seq, heads, d), outLse.View);
        acc.Synchronize();
        var got = output.GetAsArray1D();
        var gotLse = outLse.GetAsArray1D();

        var (eo, eLse) = Expected(o, lse, parts, rows, d);
        double tolerance = typeof(T) == typeof(float) ? 1e-5 : typeof(T) == typeof(Half) ? 1e-3 : 8e-3;
        for (int r = 0; r < rows; r++)
        {
            int b = r / (heads * seq), h = r / seq % heads, i = r % seq;
            gotLse[r].Should().BeApproximately((float)eLse[r], 1e-4f, $"LSE of row {r}");
            for (int e = 0; e < d; e++)
            {
                double actual = Elements.ToSingle(got[((b * seq + i) * heads + h) * d + e]);
                actual.Should().BeApproximately(eo[r * d + e], tolerance, $"O of row {r}, dim {e}");
            }
        }
        gotLse[rows - 1].Should().Be(float.NegativeInfinity, "a row no part saw has LSE -inf");
    }

    /// <summary>Folding the parts one by one into a running state (ring attention's order) gives the N-part merge.</summary>
    [Fact]
    public void Fold_one_by_one_matches_merge()
    {
        int parts = 4, rows = 10, d = 24;
        var (o, lse) = Parts(parts, rows, d, 5);
        var acc = Engine.Accelerator;
        using var running = acc.Allocate1D(Enumerable.Repeat(float.NaN, rows * d).ToArray()); // the empty state's O is ignored
        using var runningLse = acc.Allocate1D(Enumerable.Repeat(float.NegativeInfinity, rows).ToArray());
        using var dO = acc.Allocate1D(o);
        using var dLse = acc.Allocate1D(lse);
        for (int i = 0; i < parts; i++)
            Engine.FoldPartial(running.View, runningLse.View, dO.View.SubView(i * rows * d, rows * d), dLse.View.SubView(i * rows, rows), d);
        acc.Synchronize();
        var got = running.GetAsArray1D();
        var gotLse = runningLse.GetAsArray1D();
        var (eo, eLse) = Expected(o, lse, parts, rows, d);
        for (int r = 0; r < rows; r++)
        {
            gotLse[r].Should().BeApproximately((float)eLse[r], 1e-4f);
            for (int e = 0; e < d; e++)
                ((double)got[r * d + e]).Should().BeApproximately(eo[r * d + e], 1e-5, $"row {r}, dim {e}");
        }
        got.Skip((rows - 1) * d).Should().OnlyContain(x => x == 0f, "a row no part saw is 0, never NaN");
    }

    /// <summary>The float64 merge of attention over key halves is attention over all keys.</summary>
    [Fact]
    public void Reference_merge_of_halves_is_the_whole()
    {
        var rng = new RandomTensors(11);
        int n = 50, d = 16;
        var q = rng.Bshd<float>(1, 2, 2, d);
        var k = rng.Bshd<float>(1, n, 2, d);
        var v = rng.Bshd<float>(1, n, 2, d);
        HostTensor<float> Slice(HostTensor<float> t, int from, int count) =>
            HostTensor<float>.Bshd(t.Data[(from * 2 * d)..((from + count) * 2 * d)], 1, count, 2, d);
        var whole = ReferenceAttention.Forward(Float64Tensor.From(q), Float64Tensor.From(k), Float64Tensor.From(v));
        var a = ReferenceAttention.Forward(Float64Tensor.From(q), Float64Tensor.From(Slice(k, 0, 20)), Float64Tensor.From(Slice(v, 0, 20)));
        var b = ReferenceAttention.Forward(Float64Tensor.From(q), Float64Tensor.From(Slice(k, 20, 30)), Float64Tensor.From(Slice(v, 20, 30)));
        // Reference outputs are [b, s, h, d]; LSE [b, h, s]: reorder the outputs to LSE order.
        double[] Rows(double[] o) => [.. from h in Enumerable.Range(0, 2) from s in Enumerable.Range(0, 2) from e in Enumerable.Range(0, d) select o[(s * 2 + h) * d + e]];
        var (mo, ml) = ReferencePartialMerge.Merge([Rows(a.Output), Rows(b.Output)], [a.Lse, b.Lse], d);
        for (int i = 0; i < ml.Length; i++)
            ml[i].Should().BeApproximately(whole.Lse[i], 1e-12);
        var wo = Rows(whole.Output);
        for (int i = 0; i < wo.Length; i++)
            mo[i].Should().BeApproximately(wo[i], 1e-12);
    }

    /// <summary>Automatic splits: none when the groups fill the device, as many as fit 4 groups per SM in one wave otherwise, never below a tile, capped, no empty splits.</summary>
    [Theory]
    [InlineData(0, 8, 8192, 32, 132, 64)]     // batch 1 x 8 kv heads on an H100: 528 / 8 = 66, capped
    [InlineData(0, 64, 65536, 32, 132, 8)]    // batch 8: 528 / 64 rounded down (one wave)
    [InlineData(0, 100, 65536, 32, 132, 5)]   // 528 / 100 rounded down
    [InlineData(0, 528, 65536, 32, 132, 1)]   // already four groups per SM
    [InlineData(0, 1, 1 << 20, 32, 132, 64)]  // capped
    [InlineData(0, 8, 100, 64, 132, 2)]       // at most one split per tile
    [InlineData(0, 8, 32 * 40, 32, 132, 40)]  // 40 tiles: 64 splits would leave some empty
    [InlineData(0, 16, 32 * 40, 32, 132, 20)] // 33 splits of 40 tiles take 2 each: 20 splits do the same
    [InlineData(3, 8, 100, 64, 132, 2)]       // a request too is held to the tiles
    [InlineData(3, 1000, 8192, 64, 132, 3)]   // a request is taken as asked
    [InlineData(1, 1, 8192, 64, 132, 1)]
    public void Automatic_splits(int requested, int groups, int maxKeys, int tile, int sms, int expected) =>
        DecodeSplits.Choose(requested, groups, maxKeys, tile, sms).Should().Be(expected);

    /// <summary>The ring's splits: 2 groups per SM while each split gets at most 1024 keys, else as <see cref="DecodeSplits.Choose"/> (4 per SM).</summary>
    [Theory]
    [InlineData(0, 8, 8192, 256, 132, 32)]    // batch 1 x 8K on an H100: 264 / 8 = 33 slots, 32 tiles of 256 keys
    [InlineData(0, 8, 16384, 256, 132, 32)]   // 512 keys a split, where 4 groups per SM would take 64 of 256
    [InlineData(0, 8, 32768, 256, 132, 32)]   // 1024 keys a split: still the fewer
    [InlineData(0, 8, 65536, 256, 132, 64)]   // 32 splits would get 2048 keys: 4 per SM, capped at 64
    [InlineData(0, 16, 8192, 256, 132, 16)]   // batch 2: 264 / 16
    [InlineData(0, 16, 32768, 256, 132, 32)]  // 16 would get 2048 keys: 528 / 16 = 33, 32 with no empty split
    [InlineData(0, 64, 8192, 256, 132, 8)]    // batch 8: 4 splits of 2048 keys lose to 8 of 1024
    [InlineData(0, 528, 65536, 256, 132, 1)]  // the groups fill the device either way
    [InlineData(3, 8, 8192, 256, 132, 3)]     // a request is taken as asked
    public void Ring_splits(int requested, int groups, int maxKeys, int tile, int sms, int expected) =>
        DecodeSplits.ChooseForRing(requested, groups, maxKeys, tile, sms).Should().Be(expected);
}
