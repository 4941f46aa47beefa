using FlashAttention.Tests.Support;

namespace FlashAttention.Tests;

/// <summary>Decoding against a contiguous cache: the float64 reference per batch item on its own length.</summary>
public class DecodeAccuracyTests
{
    private static AttentionEngine Engine => TestDevice.Engine;

    /// <summary>
    /// Lengths 1, 113, 203 and mixed; seqlen_q 1 and 3; GQA 8:2 and MQA 4:1; d 64 and 128; causal on and
    /// off; splits 1, 3 and automatic; each element type. Values rotate so each meets several others
    /// without the full product on the CPU.
    /// </summary>
    public static TheoryData<string, DecodeCase> Matrix()
    {
        int[][] lens = [[1], [113], [203, 1], [113, 203], [37, 0, 203]];
        var data = new TheoryData<string, DecodeCase>();
        int n = 0;
        foreach (var dtype in new[] { "float32", "float16", "bfloat16" })
        foreach (var len in lens)
        {
            int sq = n % 2 == 0 ? 1 : 3;
            var (hq, hkv) = n % 3 == 0 ? (4, 1) : (8, 2);
            int d = n % 4 < 2 ? 64 : 128;
            bool causal = n % 5 != 1;
            int splits = (n % 3) switch { 0 => 1, 1 => 3, _ => 0 };
            data.Add(dtype, new DecodeCase(len, len.Max() + 17, sq, hq, hkv, d, causal, splits));
            n++;
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Matrix))]
    public void Matches_reference(string dtype, DecodeCase c) => DecodeCase.Run(dtype, c, Engine);

    /// <summary>A head dim that is not a compiled size (padded to 64) and fills no whole 16-byte vector in fp16 (element loads).</summary>
    [Theory]
    [InlineData("float16", 40)]
    [InlineData("float32", 36)]
    public void Padded_head_dim(string dtype, int d) => DecodeCase.Run(dtype, new DecodeCase([113, 50], 130, 3, 8, 2, d, Causal: true, Splits: 3), Engine);

    /// <summary>
    /// Other compiled head dims: 32 (8 dims per thread row), 96 (not a power of two), 160 and 224 (160 and 224
    /// threads: softmax teams of 8 and 12 for 16 rows, threads left over), 256 (8-key tiles for 16 rows, 256 threads).
    /// </summary>
    [Theory]
    [InlineData("bfloat16", 32)]
    [InlineData("float16", 96)]
    [InlineData("float16", 160)]
    [InlineData("float32", 224)]
    [InlineData("float16", 256)]
    public void Other_head_dims(string dtype, int d) => DecodeCase.Run(dtype, new DecodeCase([113, 40], 120, 3, 8, 2, d, Causal: true, Splits: 3), Engine);

    /// <summary>
    /// A [batch, heads, seqlen, d] cache (and q, output) gives bit for bit the output of the same values in
    /// [batch, seqlen, heads, d]: the kernels follow the strides and nothing else changes.
    /// </summary>
    [Fact]
    public void Strided_bhsd_layout_gives_the_same_bits()
    {
        var rng = new RandomTensors(3);
        int b = 2, cap = 90, hkv = 2, hq = 8, d = 64, sq = 2;
        var k = rng.Bshd<Half>(b, cap, hkv, d);
        var v = rng.Bshd<Half>(b, cap, hkv, d);
        var q = rng.Bshd<Half>(b, sq, hq, d);
        int[] lens = [77, 90];
        var options = new DecodeOptions { Causal = true, NumSplits = 2, ReturnLse = true };
        var expected = Engine.Decode(q, new KvCache<Half>(k, v, lens), options);

        HostTensor<Half> ToBhsd(HostTensor<Half> t)
        {
            var l = t.Layout;
            var bhsd = HostTensor<Half>.Bhsd(new Half[t.Data.Length], l.Batch, l.Heads, l.SeqLen, l.HeadDim);
            for (int i = 0; i < l.Batch; i++)
            for (int s = 0; s < l.SeqLen; s++)
            for (int h = 0; h < l.Heads; h++)
            for (int e = 0; e < l.HeadDim; e++)
                bhsd[i, s, h, e] = t[i, s, h, e];
            return bhsd;
        }

        var output = HostTensor<Half>.Bhsd(DecodeCase.Poisoned<Half>(q.Data.Length), b, hq, sq, d);
        var lse = new float[b * hq * sq];
        Engine.Decode(ToBhsd(q), new KvCache<Half>(ToBhsd(k), ToBhsd(v), lens), output, lse, options);
        for (int i = 0; i < b; i++)
        for (int s = 0; s < sq; s++)
        for (int h = 0; h < hq; h++)
        for (int e = 0; e < d; e++)
            output[i, s, h, e].Should().Be(expected.Output[i, s, h, e]);
        lse.Should().Equal(expected.Lse);
    }

    /// <summary>More query rows per kv head than one group holds (32:1 x 3 = 96 rows, six row chunks).</summary>
    [Fact]
    public void Many_rows_per_kv_head() => DecodeCase.Run("float16", new DecodeCase([70], 80, 3, 32, 1, 64, Causal: true, Splits: 2), Engine);

    /// <summary>
    /// Each compiled row count (4, 8, 16 rows per group): 1 row (MHA: a 4-row group with 3 empty rows),
    /// 5 and 8 rows (8-row groups), 16 rows, and 18 rows (two 16-row chunks, the second mostly empty).
    /// </summary>
    [Theory]
    [InlineData("float16", 2, 2, 1, 64)]
    [InlineData("bfloat16", 5, 1, 1, 64)]
    [InlineData("float16", 8, 1, 1, 128)]
    [InlineData("float32", 4, 1, 2, 64)]
    [InlineData("float16", 16, 1, 1, 64)]
    [InlineData("float16", 6, 1, 3, 64)]
    public void Row_counts(string dtype, int hq, int hkv, int sq, int d) =>
        DecodeCase.Run(dtype, new DecodeCase([97, 33], 100, sq, hq, hkv, d, Causal: true, Splits: 2), Engine);

    /// <summary>
    /// Lengths around the 32-key tile (one key, 31, 32, 33, two tiles, two tiles and one) with splits
    /// that end on and inside tiles: the K tile is stored a tile ahead and the V tile a phase late, so
    /// every first, last and partial tile must see its own keys.
    /// </summary>
    [Theory]
    [InlineData("float16", 1)]
    [InlineData("float16", 2)]
    [InlineData("float32", 3)]
    [InlineData("float16", 0)]
    public void Tile_edges(string dtype, int splits) =>
        DecodeCase.Run(dtype, new DecodeCase([1, 31, 32, 33, 64, 65], 70, 1, 4, 1, 64, Causal: false, Splits: splits), Engine);

    [Fact]
    public void Custom_scale() => DecodeCase.Run("float32", new DecodeCase([90], 90, 1, 4, 2, 64, Causal: false, Splits: 1, Scale: 0.3f), Engine);

    /// <summary>The device-view form (no copies) gives the same as the host form.</summary>
    [Fact]
    public void Device_form() => DecodeCase.Run("bfloat16", new DecodeCase([203, 5], 210, 1, 8, 2, 128, Causal: false, Splits: 3, DeviceForm: true), Engine);

    /// <summary>Every item empty: no key at all, so O = 0 and LSE = -inf, never NaN, with and without splits.</summary>
    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void Empty_cache(int splits) => DecodeCase.Run("float16", new DecodeCase([0, 0], 64, 1, 4, 1, 64, Causal: true, Splits: splits), Engine);

    /// <summary>Causal with more queries than keys: the first rows see nothing (O = 0, LSE = -inf).</summary>
    [Fact]
    public void Causal_rows_before_the_first_key() => DecodeCase.Run("float32", new DecodeCase([2], 8, 3, 4, 2, 64, Causal: true, Splits: 1), Engine);
}
