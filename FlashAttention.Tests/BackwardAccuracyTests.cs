using System.Runtime.InteropServices;
using FlashAttention.Tests.Support;

namespace FlashAttention.Tests;

/// <summary>The portable backward kernels against the float64 reference backward, at odd shapes.</summary>
public class BackwardAccuracyTests
{
    private static readonly (int Q, int K)[] SeqLens = [(1, 1), (1, 239), (113, 203), (203, 113), (128, 128)];
    private static readonly int[] HeadDims = [32, 40, 64, 96, 128, 256];
    private static readonly (int Q, int Kv)[] Heads = [(2, 2), (4, 2), (3, 1)]; // MHA, GQA, MQA

    public static TheoryData<string, BackwardCase> Matrix()
    {
        var data = new TheoryData<string, BackwardCase>();
        int n = 0;
        foreach (var dtype in new[] { "float32", "float16", "bfloat16" })
        foreach (var (sq, sk) in SeqLens)
        foreach (bool causal in new[] { false, true })
        {
            int dim = HeadDims[n % HeadDims.Length];
            var (hq, hkv) = Heads[n / 2 % Heads.Length];
            // The naive low-precision backward is O(n^2 d) per head on the CPU: keep the big dims on fewer heads.
            if (dim >= 128 && sq * sk > 20000) (hq, hkv) = (hkv == 1 ? 2 : 1, 1);
            data.Add(dtype, new BackwardCase(n % 4 == 0 ? 2 : 1, sq, sk, hq, hkv, dim, causal));
            n++;
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Matrix))]
    public void Matches_reference(string dtype, BackwardCase c) => Run(dtype, c);

    [Theory]
    [InlineData(8, 8, 32)] [InlineData(16, 32, 64)] [InlineData(32, 16, 128)] [InlineData(64, 64, 256)]
    public void Every_tile_shape(int br, int bc, int threads) =>
        Run("float16", new BackwardCase(1, 97, 150, 2, 1, 40, Causal: true, new TileConfig(br, bc, threads)));

    /// <summary>No atomics, fixed order: 20 runs give bitwise-equal dQ, dK, dV.</summary>
    [Fact]
    public void Backward_is_bitwise_repeatable()
    {
        var engine = TestDevice.Engine;
        var rng = new RandomTensors(RandomTensors.SeedFor(nameof(Backward_is_bitwise_repeatable)));
        var q = rng.Bshd<Half>(1, 77, 4, 64);
        var k = rng.Bshd<Half>(1, 90, 2, 64);
        var v = rng.Bshd<Half>(1, 90, 2, 64);
        var dOut = rng.Bshd<Half>(1, 77, 4, 64);
        var options = new AttentionOptions { Causal = true, ReturnLse = true };
        var forward = engine.Forward(q, k, v, options);
        var first = engine.Backward(dOut, q, k, v, forward.Output, forward.Lse!, options);
        for (int run = 0; run < 20; run++)
        {
            var again = engine.Backward(dOut, q, k, v, forward.Output, forward.Lse!, options);
            Bits(again.DQ).Should().Equal(Bits(first.DQ), $"dQ, run {run}");
            Bits(again.DK).Should().Equal(Bits(first.DK), $"dK, run {run}");
            Bits(again.DV).Should().Equal(Bits(first.DV), $"dV, run {run}");
        }
    }

    [Fact]
    public void Packed_qkv_gradients_equal_separate_ones()
    {
        var engine = TestDevice.Engine;
        const int b = 1, n = 45, h = 2, d = 32;
        var rng = new RandomTensors(3);
        var qkv = rng.Array<float>((long)b * n * 3 * h * d);
        var dOut = rng.Bshd<float>(b, n, h, d);
        var options = new AttentionOptions { Causal = true, ReturnLse = true };
        var (ql, kl, vl) = TensorLayout.PackedQkv(b, n, h, d);
        var (q, k, v) = (new HostTensor<float>(qkv, ql), new HostTensor<float>(qkv, kl), new HostTensor<float>(qkv, vl));
        var forward = engine.Forward(q, k, v, options);

        var dqkv = engine.BackwardPackedQkv(dOut, qkv, b, n, h, d, forward.Output, forward.Lse!, options);
        var separate = engine.Backward(dOut, q, k, v, forward.Output, forward.Lse!, options);

        for (int s = 0; s < n; s++)
        for (int hh = 0; hh < h; hh++)
        for (int dd = 0; dd < d; dd++)
        {
            dqkv[ql.IndexOf(0, s, hh, dd)].Should().Be(separate.DQ[0, s, hh, dd]);
            dqkv[kl.IndexOf(0, s, hh, dd)].Should().Be(separate.DK[0, s, hh, dd]);
            dqkv[vl.IndexOf(0, s, hh, dd)].Should().Be(separate.DV[0, s, hh, dd]);
        }
    }

    private static ushort[] Bits(HostTensor<Half> t) => MemoryMarshal.Cast<Half, ushort>(t.Data).ToArray();

    internal static void Run(string dtype, BackwardCase c) => ElementTypes.Run(dtype, c, TestDevice.Engine);
}
