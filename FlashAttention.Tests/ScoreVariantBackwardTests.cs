using FlashAttention.Kernels.Portable;
using FlashAttention.Tests.Support;

namespace FlashAttention.Tests;

/// <summary>
/// Sliding window, ALiBi and logit soft-capping in the portable backward against the float64
/// reference backward (gradients poisoned with NaN first), and a check that key and query tiles
/// outside the window are skipped, not computed. Small shapes: a few seconds on the CPU.
/// </summary>
public class ScoreVariantBackwardTests
{
    public static TheoryData<string, BackwardCase> Cases() => new()
    {
        // Window alone, seqlen_q < seqlen_k, padded head dim 40 (dK/dV walk only the rows that see their keys).
        { "float32", new BackwardCase(1, 113, 203, 2, 1, 40, Causal: false, Window: new(16, 8)) },
        // Window with causal, seqlen_q > seqlen_k: rows with no key contribute nothing.
        { "float16", new BackwardCase(1, 203, 113, 1, 1, 64, Causal: true, Window: new(32, AttentionWindow.Unbounded)) },
        // ALiBi with causal, GQA: each query head of the group has its own slope.
        { "float32", new BackwardCase(1, 113, 113, 2, 1, 64, Causal: true, AlibiSlopes: [0.25f, 0.0625f]) },
        // Soft cap with a custom scale (1 - tanh² well below 1), ALiBi and a window, head dim 72.
        { "float32", new BackwardCase(1, 77, 130, 2, 2, 72, Causal: false, Scale: 0.9f, Window: new(24, 24), AlibiSlopes: [0.2f, 0.05f], Softcap: 5f) },
        // One query, small tiles: most key tiles skipped.
        { "bfloat16", new BackwardCase(1, 1, 203, 1, 1, 32, Causal: false, new TileConfig(16, 16, 64), Window: new(8, AttentionWindow.Unbounded), Softcap: 3f) },
        // Small tiles on both kernels with a window cut on both sides.
        { "float32", new BackwardCase(1, 150, 203, 1, 1, 32, Causal: false, new TileConfig(16, 16, 64), Window: new(22, 5), AlibiSlopes: [0.1f], Softcap: 6f) },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Matches_reference(string dtype, BackwardCase c) => ElementTypes.Run(dtype, c, TestDevice.Engine);

    /// <summary>
    /// 16 queries against 128 keys with window (16, -1): off = 112, so query i sees keys 96 + i and
    /// later, and keys 0 .. 95 (three whole 32-key tiles) are seen by no query. Those K and V rows
    /// hold NaN: a kernel that loaded them would turn P = 0 into 0 * NaN = NaN somewhere (P V in the
    /// forward, dS = P (dP - D) in both backward kernels). So finite outputs, dK = dV = 0 exactly on
    /// those keys and finite dQ prove those tiles were skipped, on both forward variants.
    /// </summary>
    [Theory]
    [InlineData(ForwardVariant.V3)]
    [InlineData(ForwardVariant.V4)]
    public void Tiles_outside_the_window_are_never_read(ForwardVariant variant)
    {
        const int nq = 16, nk = 128, dim = 32, hidden = 96;
        var engine = TestDevice.Engine;
        var rng = new RandomTensors(RandomTensors.SeedFor(nameof(Tiles_outside_the_window_are_never_read) + variant));
        var q = rng.Bshd<float>(1, nq, 1, dim);
        var k = rng.Bshd<float>(1, nk, 1, dim);
        var v = rng.Bshd<float>(1, nk, 1, dim);
        var dOut = rng.Bshd<float>(1, nq, 1, dim);
        Array.Fill(k.Data, float.NaN, 0, hidden * dim);
        Array.Fill(v.Data, float.NaN, 0, hidden * dim);
        var options = new AttentionOptions
        {
            Window = new(16, AttentionWindow.Unbounded), ReturnLse = true, Kernel = KernelPath.Portable,
            Tile = new TileConfig(16, 32, TileConfig.ForwardThreads(16, dim), variant), BackwardTile = new TileConfig(16, 32, 64),
        };

        var forward = engine.Forward(q, k, v, options);
        var grads = engine.Backward(dOut, q, k, v, forward.Output, forward.Lse!, options);

        forward.Output.Data.Should().OnlyContain(x => float.IsFinite(x), "the forward never loads the hidden K/V tiles");
        forward.Lse!.Should().OnlyContain(x => float.IsFinite(x));
        grads.DQ.Data.Should().OnlyContain(x => float.IsFinite(x), "the dQ kernel never loads the hidden K/V tiles");
        grads.DK.Data.Take(hidden * dim).Should().OnlyContain(x => x == 0f, "no query tile is visited for keys no query sees");
        grads.DV.Data.Take(hidden * dim).Should().OnlyContain(x => x == 0f);
        grads.DK.Data.Skip(hidden * dim).Should().OnlyContain(x => float.IsFinite(x));
        grads.DV.Data.Skip(hidden * dim).Should().Contain(x => x != 0f);
    }

    /// <summary>
    /// The mirror case for the dK/dV kernel's query loop: 128 queries against 16 keys with window
    /// (-1, 2): off = -112, so query i sees keys up to i - 110 and queries 0 .. 109 see none. Q and dO
    /// rows 0 .. 95 (six whole 16-row tiles) hold NaN; dK and dV stay finite only if the kernel skips
    /// those query tiles, and those rows get output 0, LSE -inf and dQ 0.
    /// </summary>
    [Fact]
    public void Query_tiles_that_see_no_key_are_never_read()
    {
        const int nq = 128, nk = 16, dim = 32, hidden = 96, blind = 110;
        var engine = TestDevice.Engine;
        var rng = new RandomTensors(RandomTensors.SeedFor(nameof(Query_tiles_that_see_no_key_are_never_read)));
        var q = rng.Bshd<float>(1, nq, 1, dim);
        var k = rng.Bshd<float>(1, nk, 1, dim);
        var v = rng.Bshd<float>(1, nk, 1, dim);
        var dOut = rng.Bshd<float>(1, nq, 1, dim);
        Array.Fill(q.Data, float.NaN, 0, hidden * dim);
        Array.Fill(dOut.Data, float.NaN, 0, hidden * dim);
        var options = new AttentionOptions
        {
            Window = new(AttentionWindow.Unbounded, 2), ReturnLse = true, Kernel = KernelPath.Portable,
            Tile = new TileConfig(16, 16, TileConfig.ForwardThreads(16, dim)), BackwardTile = new TileConfig(16, 16, 64),
        };

        var forward = engine.Forward(q, k, v, options);
        var grads = engine.Backward(dOut, q, k, v, forward.Output, forward.Lse!, options);

        forward.Output.Data.Take(blind * dim).Should().OnlyContain(x => x == 0f, "rows that see no key give 0");
        forward.Lse!.Take(blind).Should().OnlyContain(x => float.IsNegativeInfinity(x));
        forward.Output.Data.Skip(blind * dim).Should().OnlyContain(x => float.IsFinite(x));
        grads.DQ.Data.Take(blind * dim).Should().OnlyContain(x => x == 0f);
        grads.DK.Data.Should().OnlyContain(x => float.IsFinite(x), "the dK/dV kernel never loads the query tiles that see no key");
        grads.DV.Data.Should().OnlyContain(x => float.IsFinite(x));
    }
}
