using FlashAttention.Tests.Support;

namespace FlashAttention.Tests;

/// <summary>Bad backward input raises a clear exception and writes no gradient. (Mixed element types cannot compile: one T.)</summary>
public class BackwardValidationTests
{
    private const float Sentinel = 3f;

    private static HostTensor<float> T(int n, int h, int d = 32) => new RandomTensors(n * 7 + h).Bshd<float>(1, n, h, d);

    private static void Rejects(string param, string text, HostTensor<float>? dOut = null, float[]? lse = null,
        HostTensor<float>? dk = null, TileConfig? tile = null, AttentionOptions? options = null)
    {
        var (q, k, v, o) = (T(8, 2), T(9, 1), T(9, 1), T(8, 2));
        dOut ??= T(8, 2);
        lse ??= new float[16];
        var dq = T(8, 2);
        dk ??= T(9, 1);
        var dv = T(9, 1);
        foreach (var g in new[] { dq, dk, dv })
            Array.Fill(g.Data, Sentinel);

        var act = () => TestDevice.Engine.Backward(dOut, q, k, v, o, lse, dq, dk, dv, (options ?? new AttentionOptions()) with { BackwardTile = tile });

        act.Should().Throw<ArgumentException>().Where(e => e.ParamName == param && e.Message.Contains(text), $"'{param}' with '{text}'");
        foreach (var g in new[] { dq, dk, dv })
            g.Data.Should().OnlyContain(x => x == Sentinel, "nothing is written on invalid input");
    }

    [Fact]
    public void DOut_shape_differs_from_the_output() => Rejects("dOut", "shape is [1, 7, 2, 32]; expected the output's shape [1, 8, 2, 32]", dOut: T(7, 2));

    [Fact]
    public void Lse_missing() => Rejects("lse", "missing; expected the forward's LSE, float32 [1, 2, 8]", lse: []);

    [Fact]
    public void Lse_of_wrong_shape() => Rejects("lse", "length is 8; expected batch * heads_q * seqlen_q = 16", lse: new float[8]);

    [Fact]
    public void Gradient_of_wrong_shape() => Rejects("dk", "shape is [1, 9, 2, 32]; expected k's shape [1, 9, 1, 32]", dk: T(9, 2));

    [Fact]
    public void Alibi_slopes_of_the_wrong_length() =>
        Rejects("options", "AlibiSlopes has 1 elements; expected heads_q = 2", options: new AttentionOptions { AlibiSlopes = [0.5f] });

    [Fact]
    public void Negative_softcap() => Rejects("options", "Softcap is -3", options: new AttentionOptions { Softcap = -3f });

    [Fact]
    public void Backward_tile_without_a_compiled_kernel() => Rejects("options", "tile Bc is 24", tile: new TileConfig(32, 24, 128));
}
