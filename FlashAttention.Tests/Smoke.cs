using FlashAttention.Reference;
namespace FlashAttention.Tests;
public class Smoke
{
    [Fact]
    public void Runs()
    {
        using var engine = AttentionEngine.Create(AcceleratorChoice.Cpu);
        var rng = new Random(1);
        int b = 1, n = 70, h = 2, d = 40;
        float[] Rand(int len) => Enumerable.Range(0, len).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var q = HostTensor<float>.Bshd(Rand(b * n * h * d), b, n, h, d);
        var k = HostTensor<float>.Bshd(Rand(b * 90 * h * d), b, 90, h, d);
        var v = HostTensor<float>.Bshd(Rand(b * 90 * h * d), b, 90, h, d);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var r = engine.Forward(q, k, v, new AttentionOptions { ReturnLse = true, Causal = true });
        var t = sw.Elapsed;
        var refr = ReferenceAttention.Forward(q, k, v, causal: true);
        double err = 0; for (int i = 0; i < refr.Output.Length; i++) err = Math.Max(err, Math.Abs(refr.Output[i] - r.Output.Data[i]));
        double lerr = 0; for (int i = 0; i < refr.Lse.Length; i++) lerr = Math.Max(lerr, Math.Abs(refr.Lse[i] - r.Lse![i]));
        TestContext.Current.SendDiagnosticMessage($"err {err} lse {lerr} time {t}");
        Console.WriteLine($"err {err} lse {lerr} time {t}");
        err.Should().BeLessThan(1e-5);
        lerr.Should().BeLessThan(1e-5);
    }
}
