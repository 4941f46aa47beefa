using System.CommandLine;
using FlashAttention.Bench;
using FlashAttention.IO;
using FlashAttention.Reference;

namespace FlashAttention.Tests;

/// <summary>
/// <c>verify --dropout P --seed S --offset N</c>: the options reach the engine, so o.npy and the
/// gradients equal the float64 reference drawing the same Z; lse.npy is the undropped LSE; a
/// probability outside [0, 1) is refused in one line, writing nothing.
/// </summary>
public sealed class VerifyDropoutTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("flash-verify-dropout-").FullName;
    private readonly StringWriter stdout = new();
    private readonly StringWriter stderr = new();

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private string OutDir => Path.Combine(dir, "out");

    [Fact]
    public void DropoutSeedAndOffsetMatchTheReference()
    {
        var rng = new Random(21);
        var q = Write("q.npy", rng, 1, 23, 2, 16);
        var k = Write("k.npy", rng, 1, 31, 1, 16);
        var v = Write("v.npy", rng, 1, 31, 1, 16);
        var dOut = Write("do.npy", rng, 1, 23, 2, 16);
        var root = new RootCommand { VerifyCommand.Create(stdout, stderr) };

        int code = root.Parse([
            "verify", "--q", PathOf("q.npy"), "--k", PathOf("k.npy"), "--v", PathOf("v.npy"), "--out", OutDir, "--do", PathOf("do.npy"),
            "--causal", "--dropout", "0.25", "--seed", "77", "--offset", "3", "--device", "cpu",
        ]).Invoke();

        code.Should().Be(0, stderr.ToString());
        var options = new AttentionOptions { Causal = true, DropoutP = 0.25f, DropoutSeed = 77, DropoutOffset = 3 };
        var reference = ReferenceAttention.Forward(q, k, v, options);
        MaxError(reference.Output, Read("o.npy")).Should().BeLessThan(1e-5);
        // The LSE does not depend on dropout: the reference without it gives the same one.
        MaxError(ReferenceAttention.Forward(q, k, v, options with { DropoutP = 0 }).Lse, Read("lse.npy")).Should().BeLessThan(1e-5);
        var grads = ReferenceAttention.Backward(dOut, q, k, v, options);
        foreach (var (name, expected) in new[] { ("dq", grads.DQ), ("dk", grads.DK), ("dv", grads.DV) })
            MaxError(expected, Read(name + ".npy")).Should().BeLessThan(1e-5, name);
        // And dropout did change the output.
        MaxError(ReferenceAttention.Forward(q, k, v, options with { DropoutP = 0 }).Output, Read("o.npy")).Should().BeGreaterThan(1e-3);
    }

    [Theory]
    [InlineData(1f)]
    [InlineData(-0.5f)]
    public void ProbabilityOutsideTheRangeIsRefused(float p)
    {
        var rng = new Random(22);
        Write("q.npy", rng, 1, 5, 1, 8);
        Write("k.npy", rng, 1, 6, 1, 8);
        Write("v.npy", rng, 1, 6, 1, 8);

        int code = VerifyCommand.Run(
            new VerifyArgs(PathOf("q.npy"), PathOf("k.npy"), PathOf("v.npy"), OutDir) { Device = AcceleratorChoice.Cpu, Dropout = p },
            stdout, stderr);

        code.Should().Be(VerifyCommand.Failed);
        stderr.ToString().Should().Contain("--dropout is").And.Contain("expected a probability in [0, 1)");
        Directory.Exists(OutDir).Should().BeFalse();
    }

    private string PathOf(string name) => Path.Combine(dir, name);

    private double[] Read(string name) => NpyFile.Read(Path.Combine(OutDir, name)).AsSingle().Select(x => (double)x).ToArray();

    private HostTensor<float> Write(string name, Random rng, int b, int n, int h, int d)
    {
        var data = new float[b * n * h * d];
        for (int i = 0; i < data.Length; i++)
            data[i] = rng.NextSingle() * 2f - 1f;
        NpyFile.Write(PathOf(name), data, [b, n, h, d]);
        return HostTensor<float>.Bshd(data, b, n, h, d);
    }

    private static double MaxError(double[] expected, IEnumerable<double> actual) =>
        expected.Zip(actual, (e, a) => e == a ? 0 : double.IsNaN(a) ? double.PositiveInfinity : Math.Abs(a - e)).DefaultIfEmpty(0).Max();
}
