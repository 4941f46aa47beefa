using FlashAttention.Kernels.Portable;
using FlashAttention.Tests.Support;

namespace FlashAttention.Tests;

/// <summary>
/// The streaming decode kernel (<see cref="DecodePath.Streaming"/>) against the float64 reference, and
/// the tiled kernel on the same cases: every compiled row count (1, 2, 4, 8 rows per kv head) and head
/// dim (32 to 256), splits that end inside a step, paged caches, appends, and the refusals.
/// </summary>
public class DecodeStreamingTests
{
    private static AttentionEngine Engine => TestDevice.Engine;

    /// <summary>
    /// Rows 1 (MHA), 2 (2:1), 4, 5 (an 8-row group with 3 empty rows) and 2 x 4 = 8 (seqlen_q 2, 4:1);
    /// head dims 32 (4 lanes per key, 32 teams), 64, 128 and 256 (a whole warp per key); lengths
    /// 1, 113 and 203 and an empty item; causal with seqlen_q 2; each forced through both kernels.
    /// </summary>
    [Theory]
    [InlineData("float16", 4, 4, 1, 128, DecodePath.Streaming)]
    [InlineData("bfloat16", 4, 2, 1, 64, DecodePath.Streaming)]
    [InlineData("float16", 4, 1, 1, 32, DecodePath.Streaming)]
    [InlineData("float16", 5, 1, 1, 256, DecodePath.Streaming)]
    [InlineData("bfloat16", 4, 1, 2, 64, DecodePath.Streaming)]
    [InlineData("float16", 4, 1, 1, 32, DecodePath.Tiled)]
    [InlineData("bfloat16", 4, 1, 2, 64, DecodePath.Tiled)]
    public void Matches_reference(string dtype, int hq, int hkv, int sq, int d, DecodePath path) =>
        DecodeCase.Run(dtype, new DecodeCase([113, 1, 0, 203], 210, sq, hq, hkv, d, Causal: true, Splits: 0, Path: path), Engine);

    /// <summary>
    /// Lengths around a step (d 64, 4 rows: 2 keys x 16 teams = 32 keys): one key, a step less one, a
    /// step, a step and one, with splits that end inside steps; the last step's loads must read nothing past the end.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(7)]
    public void Step_edges(int splits) =>
        DecodeCase.Run("float16", new DecodeCase([1, 31, 32, 33, 97], 100, 1, 4, 1, 64, Causal: false, Splits: splits, Path: DecodePath.Streaming), Engine);

    /// <summary>
    /// Scores spread wide (scale 1.5) over 900 keys: m moves only when a step passes it by more than
    /// <c>LazyRescale.Threshold</c>, so both the rescaling steps and those that keep m with p above 1 run;
    /// 1 row (4 keys a step), 2 rows and 8 rows (two lane sets) at d 64, and d 256.
    /// </summary>
    [Theory]
    [InlineData(1, 1, 64)]
    [InlineData(2, 1, 64)]
    [InlineData(8, 1, 64)]
    [InlineData(4, 1, 256)]
    public void Wide_scores_move_m_lazily(int hq, int hkv, int d) =>
        DecodeCase.Run("float16", new DecodeCase([900, 45], 900, 1, hq, hkv, d, Causal: false, Splits: 2, Scale: 1.5f, Path: DecodePath.Streaming), Engine);

    /// <summary>A paged cache (shuffled pages of 16: the per-key page lookup path) with new keys appended in place.</summary>
    [Fact]
    public void Paged_with_append() =>
        DecodeCase.Run("float16", new DecodeCase([60, 17], 96, 2, 8, 2, 128, Causal: true, Splits: 2, PageSize: 16, SeqNew: 2, Path: DecodePath.Streaming), Engine);

    /// <summary>
    /// The launcher's choices: a lane holds at most 4 rows (8 rows take two lane sets per key), a step is
    /// unroll x teams keys (<paramref name="stepKeys"/> for groups of 128 threads; twice as many teams in the experiment
    /// FLASH_DECODE_THREADS=256), and a group's shared memory stays under the CUDA default of 48 KB.
    /// </summary>
    [Theory]
    [InlineData(32, 1, 1, 4, 1, 128)]
    [InlineData(128, 4, 4, 2, 1, 16)]
    [InlineData(128, 7, 8, 2, 2, 8)]
    [InlineData(256, 8, 8, 2, 2, 4)]
    public void Compiled_shapes(int dim, long rows, int rowsCompiled, int unroll, int halves, int stepKeys)
    {
        DecodeStreamKernel.RowsFor(rows).Should().Be(rowsCompiled);
        DecodeStreamKernel.Unroll(rowsCompiled).Should().Be(unroll);
        DecodeStreamKernel.RowHalves(rowsCompiled).Should().Be(halves);
        DecodeStreamKernel.RowsPerLane(rowsCompiled).Should().BeLessThanOrEqualTo(4);
        DecodeStreamKernel.StepKeys(dim, rowsCompiled).Should().Be(stepKeys * DecodeStreamKernel.Threads / 128);
        (DecodeStreamKernel.SharedFloats(dim, rowsCompiled) * sizeof(float)).Should().BeLessThan(48 * 1024);
    }

    /// <summary>A forced streaming call the kernel cannot run is refused naming the reason, before the append changes the cache.</summary>
    [Theory]
    [InlineData(96, 4, 1, 1, "head dim is 96; expected 32, 64, 128 or 256")]
    [InlineData(64, 16, 1, 1, "heads_q / heads_kv * seqlen_q is 16; expected at most 8")]
    [InlineData(64, 4, 1, 3, "heads_q / heads_kv * seqlen_q is 12; expected at most 8")]
    public void Refuses_what_it_cannot_run(int d, int hq, int hkv, int sq, string reason)
    {
        var rng = new RandomTensors(11);
        var k = rng.Bshd<Half>(1, 40, hkv, d);
        var v = rng.Bshd<Half>(1, 40, hkv, d);
        var kBefore = (Half[])k.Data.Clone();
        var q = rng.Bshd<Half>(1, sq, hq, d);
        var output = HostTensor<Half>.Bshd(DecodeCase.Poisoned<Half>(q.Data.Length), 1, sq, hq, d);
        var act = () => Engine.Decode(q, new KvCache<Half>(k, v, [30]), output, null, new DecodeOptions { Path = DecodePath.Streaming },
            rng.Bshd<Half>(1, 1, hkv, d), rng.Bshd<Half>(1, 1, hkv, d));
        act.Should().Throw<ArgumentException>().Where(e => e.ParamName == "options" && e.Message.Contains("Path is Streaming") && e.Message.Contains(reason));
        k.Data.Should().Equal(kBefore, "nothing is appended when the call is refused");
        output.Data.Should().OnlyContain(x => Half.IsNaN(x), "nothing is written");
    }

    /// <summary>float32 caches are the tiled kernel's only.</summary>
    [Fact]
    public void Refuses_float32()
    {
        var rng = new RandomTensors(12);
        var q = rng.Bshd<float>(1, 1, 4, 64);
        var act = () => Engine.Decode(q, new KvCache<float>(rng.Bshd<float>(1, 8, 1, 64), rng.Bshd<float>(1, 8, 1, 64), [8]),
            new DecodeOptions { Path = DecodePath.Streaming });
        act.Should().Throw<ArgumentException>().Where(e => e.ParamName == "options" && e.Message.Contains("element type is Single; expected Half or BFloat16"));
    }
}
