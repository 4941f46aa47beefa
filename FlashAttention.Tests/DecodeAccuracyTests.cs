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

    /// <summary>More query rows per kv head than one group holds (32:1 x 3 = 96 rows, six row chunks).</summary>
    [Fact]
    public void Many_rows_per_kv_head() => DecodeCase.Run("float16", new DecodeCase([70], 80, 3, 32, 1, 64, Causal: true, Splits: 2), Engine);

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
