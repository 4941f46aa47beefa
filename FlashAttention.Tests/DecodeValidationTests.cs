using FlashAttention.Tests.Support;

namespace FlashAttention.Tests;

/// <summary>Bad decode input raises an ArgumentException naming the argument, the dimension and the expected value; nothing is appended or written.</summary>
public class DecodeValidationTests
{
    private const float Sentinel = 7f;

    private static HostTensor<float> Tensor(int b, int n, int h, int d) =>
        HostTensor<float>.Bshd(new RandomTensors(b * 1000 + n * 10 + h + d).Array<float>((long)b * n * h * d), b, n, h, d);

    private static KvCache<float> Cache(int batch, int capacity, int heads, int d, params int[] lens) =>
        new(Tensor(batch, capacity, heads, d), Tensor(batch, capacity, heads, d), lens);

    /// <summary>Calls the host API into sentinel-filled outputs and checks the exception, and that neither the outputs nor the cache changed.</summary>
    private static void Rejects(HostTensor<float> q, KvCache<float> cache, string param, string expectedText, DecodeOptions? options = null,
        HostTensor<float>? kNew = null, HostTensor<float>? vNew = null, HostTensor<float>? output = null, float[]? lse = null)
    {
        output ??= new HostTensor<float>(new float[Math.Max(1, q.Data.Length)], q.Layout);
        Array.Fill(output.Data, Sentinel);
        lse ??= new float[Math.Max(1, (long)q.Layout.Batch * q.Layout.Heads * q.Layout.SeqLen)];
        Array.Fill(lse, Sentinel);
        var kBefore = (float[])cache.K.Data.Clone();
        var vBefore = (float[])cache.V.Data.Clone();

        var act = () => TestDevice.Engine.Decode(q, cache, output, lse, options, kNew, vNew);

        act.Should().Throw<ArgumentException>().Where(e => e.ParamName == param && e.Message.Contains(expectedText),
            $"the message should name '{param}' and say '{expectedText}'");
        output.Data.Should().OnlyContain(x => x == Sentinel, "nothing is written on invalid input");
        lse.Should().OnlyContain(x => x == Sentinel);
        cache.K.Data.Should().Equal(kBefore, "nothing is appended on invalid input");
        cache.V.Data.Should().Equal(vBefore);
    }

    [Fact]
    public void Length_past_the_capacity() =>
        Rejects(Tensor(2, 1, 4, 32), Cache(2, 16, 2, 32, 3, 17), "cache", "SeqLens[1] is 17; expected 0 to 16");

    [Fact]
    public void Length_plus_append_past_the_capacity() =>
        Rejects(Tensor(1, 1, 4, 32), Cache(1, 16, 2, 32, 15), "cache", "SeqLens[0] is 15 (+ 2 appended); expected 0 to 14",
            kNew: Tensor(1, 2, 2, 32), vNew: Tensor(1, 2, 2, 32));

    [Fact]
    public void Negative_length() =>
        Rejects(Tensor(1, 1, 4, 32), Cache(1, 16, 2, 32, -1), "cache", "SeqLens[0] is -1");

    [Fact]
    public void Lengths_do_not_match_the_batch() =>
        Rejects(Tensor(2, 1, 4, 32), Cache(2, 16, 2, 32, 3), "cache", "SeqLens has 1 elements; expected q's batch 2");

    [Fact]
    public void Length_past_the_pages() =>
        Rejects(Tensor(1, 1, 4, 32), Cache(3, 16, 2, 32, 33) with { BlockTable = [0, 1] }, "cache",
            "SeqLens[0] is 33; expected 0 to 32 (pages_per_sequence * page_size 32)");

    [Theory]
    [InlineData(-1, "BlockTable[0, 1] is -1; expected a page number 0 to 2")]
    [InlineData(3, "BlockTable[0, 1] is 3; expected a page number 0 to 2")]
    public void Block_table_entry_out_of_range(int entry, string text) =>
        Rejects(Tensor(1, 1, 4, 32), Cache(3, 16, 2, 32, 20) with { BlockTable = [2, entry, 0] }, "cache", text);

    /// <summary>Entries past the pages an item uses are not read, so padding there is allowed.</summary>
    [Fact]
    public void Unused_block_table_entries_may_be_padding()
    {
        var result = TestDevice.Engine.Decode(Tensor(1, 1, 4, 32), Cache(3, 16, 2, 32, 10) with { BlockTable = [2, -1, -1] });
        result.Output.Data.Should().OnlyContain(x => float.IsFinite(x));
    }

    [Fact]
    public void Block_table_not_a_multiple_of_the_batch() =>
        Rejects(Tensor(2, 1, 4, 32), Cache(3, 16, 2, 32, 1, 1) with { BlockTable = [0, 1, 2] }, "cache",
            "BlockTable has 3 elements; expected batch (2) * pages_per_sequence");

    [Fact]
    public void Contiguous_cache_batch_differs() =>
        Rejects(Tensor(2, 1, 4, 32), Cache(3, 16, 2, 32, 1, 1), "cache", "K's batch is 3; expected q's batch 2");

    [Fact]
    public void Heads_not_a_divisor() =>
        Rejects(Tensor(1, 1, 6, 32), Cache(1, 16, 4, 32, 1), "cache", "K's heads is 4; expected a divisor of q's heads (6)");

    [Fact]
    public void Head_dim_differs() =>
        Rejects(Tensor(1, 1, 4, 64), Cache(1, 16, 2, 32, 1), "cache", "K's head dim is 32; expected q's head dim 64");

    [Fact]
    public void V_shape_differs() =>
        Rejects(Tensor(1, 1, 4, 32), new KvCache<float>(Tensor(1, 16, 2, 32), Tensor(1, 15, 2, 32), [1]), "cache",
            "V's shape is [1, 15, 2, 32]; expected K's shape [1, 16, 2, 32]");

    [Fact]
    public void New_keys_heads_differ() =>
        Rejects(Tensor(1, 1, 4, 32), Cache(1, 16, 2, 32, 1), "kNew", "heads is 1; expected 2", kNew: Tensor(1, 1, 1, 32), vNew: Tensor(1, 1, 1, 32));

    [Fact]
    public void New_keys_batch_differs() =>
        Rejects(Tensor(1, 1, 4, 32), Cache(1, 16, 2, 32, 1), "kNew", "batch is 2; expected 1", kNew: Tensor(2, 1, 2, 32), vNew: Tensor(2, 1, 2, 32));

    [Fact]
    public void New_values_shape_differs() =>
        Rejects(Tensor(1, 1, 4, 32), Cache(1, 16, 2, 32, 1), "vNew", "shape is [1, 2, 2, 32]; expected kNew's shape [1, 1, 2, 32]",
            kNew: Tensor(1, 1, 2, 32), vNew: Tensor(1, 2, 2, 32));

    [Fact]
    public void New_keys_without_values() =>
        Rejects(Tensor(1, 1, 4, 32), Cache(1, 16, 2, 32, 1), "vNew", "missing; expected kNew and vNew together", kNew: Tensor(1, 1, 2, 32));

    [Theory]
    [InlineData(-1)]
    [InlineData(257)]
    public void Splits_out_of_range(int splits) =>
        Rejects(Tensor(1, 1, 4, 32), Cache(1, 16, 2, 32, 1), "options", $"NumSplits is {splits}; expected 0 (automatic) or 1 to 256",
            new DecodeOptions { NumSplits = splits });

    [Fact]
    public void Scale_not_finite() =>
        Rejects(Tensor(1, 1, 4, 32), Cache(1, 16, 2, 32, 1), "options", "Scale is NaN; expected a finite number", new DecodeOptions { Scale = float.NaN });

    [Fact]
    public void Output_shape_differs() =>
        Rejects(Tensor(1, 1, 4, 32), Cache(1, 16, 2, 32, 1), "output", "shape is [1, 2, 4, 32]; expected q's shape [1, 1, 4, 32]",
            output: HostTensor<float>.Bshd(new float[256], 1, 2, 4, 32));

    [Fact]
    public void Lse_length_differs() =>
        Rejects(Tensor(1, 1, 4, 32), Cache(1, 16, 2, 32, 1), "lse", "length is 3; expected batch * heads_q * seqlen_q = 4", lse: new float[3]);

    [Fact]
    public void Zero_sized_query() =>
        Rejects(HostTensor<float>.Bshd([], 1, 0, 4, 32), Cache(1, 16, 2, 32, 1), "q", "seqlen is 0; expected at least 1",
            output: new HostTensor<float>(new float[4], TensorLayout.Bshd(1, 0, 4, 32)));

    [Fact]
    public void Device_form_pages_per_sequence_differs()
    {
        var acc = TestDevice.Engine.Accelerator;
        using var k = acc.Allocate1D<float>(3 * 16 * 2 * 32);
        using var lens = acc.Allocate1D(new[] { 1 });
        using var table = acc.Allocate1D(new[] { 0, 1 });
        using var q = acc.Allocate1D<float>(4 * 32);
        var kt = DeviceTensor<float>.Bshd(k.View, 3, 16, 2, 32);
        var cache = new DeviceKvCache<float>(kt, kt, lens.View) { BlockTable = table.View, PagesPerSequence = 3 };
        var act = () => TestDevice.Engine.Decode(DeviceTensor<float>.Bshd(q.View, 1, 1, 4, 32), cache, DeviceTensor<float>.Bshd(q.View, 1, 1, 4, 32), default);
        act.Should().Throw<ArgumentException>().Where(e => e.ParamName == "cache" && e.Message.Contains("PagesPerSequence is 3; expected BlockTable's length / batch = 2"));
    }

    /// <summary>
    /// The group shapes the launcher picks: 4, 8 or 16 rows per group, 32-key tiles up to d 128 (smaller
    /// above), and every group within the CUDA default of 48 KB of shared memory (d 128 with 4 rows: under 40 KB).
    /// </summary>
    [Theory]
    [InlineData(4, 1, 4, 1, 32)]
    [InlineData(1, 1, 4, 1, 32)]
    [InlineData(5, 1, 8, 1, 32)]
    [InlineData(8, 1, 8, 1, 32)]
    [InlineData(4, 3, 16, 1, 32)]
    [InlineData(32, 3, 16, 6, 32)]
    public void Group_shape(int queryHeadsPerKvHead, int seqLenQ, int rows, int chunks, int tileKeys)
    {
        FlashAttention.Kernels.Launch.DecodeLauncher.RowsPerGroup(queryHeadsPerKvHead, seqLenQ).Should().Be(rows);
        FlashAttention.Kernels.Launch.DecodeLauncher.RowChunks(queryHeadsPerKvHead, seqLenQ).Should().Be(chunks);
        FlashAttention.Kernels.Launch.DecodeLauncher.TileKeys(128, queryHeadsPerKvHead, seqLenQ).Should().Be(tileKeys);
        FlashAttention.Kernels.Launch.DecodeLauncher.SharedMemoryBytes(128, 4, 1).Should().BeLessThan(40 * 1024);
        foreach (int d in TileConfig.CompiledHeadDims)
            FlashAttention.Kernels.Launch.DecodeLauncher.SharedMemoryBytes(d).Should().BeLessThanOrEqualTo(48 * 1024, $"head dim {d}");
    }
}
