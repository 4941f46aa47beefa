using System.CommandLine;
using FlashAttention.Bench;
using FlashAttention.IO;
using FlashAttention.Reference;

namespace FlashAttention.Tests;

public sealed class VerifyCommandTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("flash-verify-").FullName;
    private readonly StringWriter stdout = new();
    private readonly StringWriter stderr = new();

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private string OutDir => Path.Combine(dir, "out", "nested");

    // ------------------------------------------------------------ happy paths

    [Fact]
    public void Float16GqaCausalMatchesTheReference()
    {
        var rng = new Random(11);
        var q = WriteTensor<Half>("q.npy", rng, 1, 37, 2, 32);
        var k = WriteTensor<Half>("k.npy", rng, 1, 37, 1, 32);
        var v = WriteTensor<Half>("v.npy", rng, 1, 37, 1, 32);

        int code = VerifyCommand.Run(Args() with { Causal = true }, stdout, stderr);

        code.Should().Be(0, stderr.ToString());
        stderr.ToString().Should().BeEmpty();
        stdout.ToString().Should().Contain("o.npy").And.Contain("lse.npy");
        var o = NpyFile.Read(Path.Combine(OutDir, "o.npy"));
        o.DType.Should().Be(NpyDType.Float16);
        o.Shape.Should().Equal(1, 37, 2, 32);
        var reference = ReferenceAttention.Forward(q, k, v, causal: true);
        CheckLse(reference, [1, 2, 37], 1e-4);
        MaxError(reference.Output, o.AsHalf().Select(h => (double)(float)h)).Should().BeLessThan(2e-3);
    }

    [Fact]
    public void Float32WithScaleAndLongerKeysMatchesTheReference()
    {
        var rng = new Random(12);
        var q = WriteTensor<float>("q.npy", rng, 2, 19, 3, 16);
        var k = WriteTensor<float>("k.npy", rng, 2, 29, 3, 16);
        var v = WriteTensor<float>("v.npy", rng, 2, 29, 3, 16);

        int code = VerifyCommand.Run(Args() with { Scale = 0.3f }, stdout, stderr);

        code.Should().Be(0, stderr.ToString());
        var o = NpyFile.Read(Path.Combine(OutDir, "o.npy"));
        o.DType.Should().Be(NpyDType.Float32);
        var reference = ReferenceAttention.Forward(q, k, v, scale: 0.3f);
        MaxError(reference.Output, o.AsSingle().Select(x => (double)x)).Should().BeLessThan(1e-5);
        CheckLse(reference, [2, 3, 19], 1e-5);
    }

    [Fact]
    public void BFloat16BitsInAndOutWithBf16Flag()
    {
        var rng = new Random(13);
        var q = WriteTensor<BFloat16>("q.npy", rng, 1, 21, 4, 8);
        var k = WriteTensor<BFloat16>("k.npy", rng, 1, 21, 2, 8);
        var v = WriteTensor<BFloat16>("v.npy", rng, 1, 21, 2, 8);

        int code = VerifyCommand.Run(Args() with { BFloat16 = true, Causal = true }, stdout, stderr);

        code.Should().Be(0, stderr.ToString());
        var o = NpyFile.Read(Path.Combine(OutDir, "o.npy"));
        o.DType.Should().Be(NpyDType.UInt16);
        var reference = ReferenceAttention.Forward(q, k, v, causal: true);
        MaxError(reference.Output, o.AsBFloat16().Select(b => (double)b.ToSingle())).Should().BeLessThan(1e-2);
        CheckLse(reference, [1, 4, 21], 1e-4);
    }

    [Fact]
    public void CommandLineInterfaceParsesTheDocumentedOptions()
    {
        var rng = new Random(14);
        WriteTensor<Half>("q.npy", rng, 1, 9, 2, 8);
        WriteTensor<Half>("k.npy", rng, 1, 9, 2, 8);
        WriteTensor<Half>("v.npy", rng, 1, 9, 2, 8);
        var root = new RootCommand { VerifyCommand.Create(stdout, stderr) };

        int code = root.Parse([
            "verify", "--q", PathOf("q.npy"), "--k", PathOf("k.npy"), "--v", PathOf("v.npy"), "--out", OutDir,
            "--causal", "--scale", "0.5", "--device", "cpu",
        ]).Invoke();

        code.Should().Be(0, stderr.ToString());
        File.Exists(Path.Combine(OutDir, "o.npy")).Should().BeTrue();
        NpyFile.Read(Path.Combine(OutDir, "lse.npy")).Shape.Should().Equal(1, 2, 9);
    }

    /// <summary>--window (with a negative, unbounded side), --softcap and --alibi reach the engine: o, lse and the gradients match the reference.</summary>
    [Fact]
    public void WindowSoftcapAndAlibiOptionsMatchTheReference()
    {
        var rng = new Random(17);
        var q = WriteTensor<float>("q.npy", rng, 1, 23, 2, 16);
        var k = WriteTensor<float>("k.npy", rng, 1, 31, 1, 16);
        var v = WriteTensor<float>("v.npy", rng, 1, 31, 1, 16);
        var dOut = WriteTensor<float>("do.npy", rng, 1, 23, 2, 16);
        float[] slopes = [0.25f, 0.5f];
        NpyFile.Write(PathOf("slopes.npy"), slopes, 2);
        var root = new RootCommand { VerifyCommand.Create(stdout, stderr) };

        int code = root.Parse([
            "verify", "--q", PathOf("q.npy"), "--k", PathOf("k.npy"), "--v", PathOf("v.npy"), "--out", OutDir, "--do", PathOf("do.npy"),
            "--window", "6", "-1", "--softcap", "2.5", "--alibi", PathOf("slopes.npy"), "--scale", "0.7", "--device", "cpu",
        ]).Invoke();

        code.Should().Be(0, stderr.ToString());
        var options = new AttentionOptions { Scale = 0.7f, Window = new(6, -1), Softcap = 2.5f, AlibiSlopes = slopes };
        var reference = ReferenceAttention.Forward(q, k, v, options);
        MaxError(reference.Output, NpyFile.Read(Path.Combine(OutDir, "o.npy")).AsSingle().Select(x => (double)x)).Should().BeLessThan(1e-5);
        CheckLse(reference, [1, 2, 23], 1e-5);
        var grads = ReferenceAttention.Backward(dOut, q, k, v, options);
        foreach (var (name, expected) in new[] { ("dq", grads.DQ), ("dk", grads.DK), ("dv", grads.DV) })
            MaxError(expected, NpyFile.Read(Path.Combine(OutDir, name + ".npy")).AsSingle().Select(x => (double)x)).Should().BeLessThan(1e-5, name);
    }

    [Theory]
    [InlineData("wrong-length")]
    [InlineData("wrong-dtype")]
    public void AlibiSlopesOfTheWrongShapeOrDtypeAreRefusedNamingTheFile(string bad)
    {
        var rng = new Random(18);
        WriteTensor<Half>("q.npy", rng, 1, 5, 2, 8);
        WriteTensor<Half>("k.npy", rng, 1, 6, 1, 8);
        WriteTensor<Half>("v.npy", rng, 1, 6, 1, 8);
        if (bad == "wrong-length")
            NpyFile.Write(PathOf("slopes.npy"), new float[3], 3);
        else
            NpyFile.Write(PathOf("slopes.npy"), new Half[2], 2);

        int code = VerifyCommand.Run(Args() with { Alibi = PathOf("slopes.npy") }, stdout, stderr);

        code.Should().Be(VerifyCommand.Failed);
        OneLine(stderr.ToString()).Should().Contain(PathOf("slopes.npy")).And.Contain(bad == "wrong-length" ? "expected [heads_q] = [2]" : "expected float32");
        Directory.Exists(Path.Combine(dir, "out")).Should().BeFalse();
    }

    /// <summary>--bias (float32, per head) and --mask (numpy bool, shared) reach the engine: o, lse, the gradients and dbias.npy match the reference.</summary>
    [Fact]
    public void BiasAndMaskOptionsMatchTheReference()
    {
        var rng = new Random(19);
        var q = WriteTensor<float>("q.npy", rng, 2, 13, 2, 16);
        var k = WriteTensor<float>("k.npy", rng, 2, 17, 1, 16);
        var v = WriteTensor<float>("v.npy", rng, 2, 17, 1, 16);
        var dOut = WriteTensor<float>("do.npy", rng, 2, 13, 2, 16);
        var biasData = Enumerable.Range(0, 2 * 13 * 17).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        biasData[7] = float.NegativeInfinity;
        var maskData = Enumerable.Range(0, 13 * 17).Select(e => e / 17 != 4 && rng.NextDouble() < 0.8).ToArray();
        NpyFile.Write(PathOf("bias.npy"), biasData, 1, 2, 13, 17);
        NpyFile.Write(PathOf("mask.npy"), maskData, 1, 1, 13, 17);
        var root = new RootCommand { VerifyCommand.Create(stdout, stderr) };

        int code = root.Parse([
            "verify", "--q", PathOf("q.npy"), "--k", PathOf("k.npy"), "--v", PathOf("v.npy"), "--out", OutDir, "--do", PathOf("do.npy"),
            "--causal", "--bias", PathOf("bias.npy"), "--mask", PathOf("mask.npy"), "--device", "cpu",
        ]).Invoke();

        code.Should().Be(0, stderr.ToString());
        var options = new AttentionOptions
        {
            Causal = true, Bias = new AttentionBias(biasData, 1, 2, 13, 17), Mask = new AttentionBooleanMask(maskData, 1, 1, 13, 17),
        };
        var reference = ReferenceAttention.Forward(q, k, v, options);
        MaxError(reference.Output, NpyFile.Read(Path.Combine(OutDir, "o.npy")).AsSingle().Select(x => (double)x)).Should().BeLessThan(1e-5);
        CheckLse(reference, [2, 2, 13], 1e-5);
        var grads = ReferenceAttention.Backward(dOut, q, k, v, options);
        foreach (var (name, expected) in new[] { ("dq", grads.DQ), ("dk", grads.DK), ("dv", grads.DV), ("dbias", grads.DBias!) })
            MaxError(expected, NpyFile.Read(Path.Combine(OutDir, name + ".npy")).AsSingle().Select(x => (double)x)).Should().BeLessThan(1e-5, name);
        NpyFile.Read(Path.Combine(OutDir, "dbias.npy")).Shape.Should().Equal(1, 2, 13, 17);
    }

    /// <summary>A float16 --bias (torch keeps an fp16 call's attn_mask so) is read as float16: o and dbias.npy match the reference on its values.</summary>
    [Fact]
    public void HalfBiasFileMatchesTheReference()
    {
        var rng = new Random(21);
        var q = WriteTensor<float>("q.npy", rng, 1, 13, 2, 16);
        var k = WriteTensor<float>("k.npy", rng, 1, 18, 2, 16);
        var v = WriteTensor<float>("v.npy", rng, 1, 18, 2, 16);
        var dOut = WriteTensor<float>("do.npy", rng, 1, 13, 2, 16);
        var biasData = Enumerable.Range(0, 13 * 18).Select(_ => (Half)(rng.NextDouble() * 4 - 2)).ToArray();
        biasData[11] = Half.NegativeInfinity;
        NpyFile.Write(PathOf("bias.npy"), biasData, 1, 1, 13, 18);

        int code = VerifyCommand.Run(Args() with { Do = PathOf("do.npy"), Bias = PathOf("bias.npy") }, stdout, stderr);

        code.Should().Be(0, stderr.ToString());
        var options = new AttentionOptions { HalfBias = new AttentionHalfBias(biasData, 1, 1, 13, 18) };
        var reference = ReferenceAttention.Forward(q, k, v, options);
        MaxError(reference.Output, NpyFile.Read(Path.Combine(OutDir, "o.npy")).AsSingle().Select(x => (double)x)).Should().BeLessThan(1e-5);
        var grads = ReferenceAttention.Backward(dOut, q, k, v, options);
        MaxError(grads.DBias!, NpyFile.Read(Path.Combine(OutDir, "dbias.npy")).AsSingle().Select(x => (double)x)).Should().BeLessThan(1e-5);
        NpyFile.Read(Path.Combine(OutDir, "dbias.npy")).Shape.Should().Equal(1, 1, 13, 18);
    }

    [Theory]
    [InlineData("bias-shape")]
    [InlineData("mask-dtype")]
    public void BiasOrMaskOfTheWrongShapeOrDtypeAreRefusedNamingTheFile(string bad)
    {
        var rng = new Random(20);
        WriteTensor<float>("q.npy", rng, 1, 5, 2, 8);
        WriteTensor<float>("k.npy", rng, 1, 6, 1, 8);
        WriteTensor<float>("v.npy", rng, 1, 6, 1, 8);
        var args = Args();
        if (bad == "bias-shape")
        {
            NpyFile.Write(PathOf("t.npy"), new float[3 * 5 * 6], 1, 3, 5, 6);
            args = args with { Bias = PathOf("t.npy") };
        }
        else
        {
            NpyFile.Write(PathOf("t.npy"), new float[5 * 6], 1, 1, 5, 6);
            args = args with { Mask = PathOf("t.npy") };
        }

        int code = VerifyCommand.Run(args, stdout, stderr);

        code.Should().Be(VerifyCommand.Failed);
        OneLine(stderr.ToString()).Should().Contain(PathOf("t.npy"))
            .And.Contain(bad == "bias-shape" ? "expected [batch | 1, heads_q | 1, seqlen_q, seqlen_k] = [1 or 1, 2 or 1, 5, 6]" : "expected a '|b1' bool mask");
        Directory.Exists(Path.Combine(dir, "out")).Should().BeFalse();
    }

    // ------------------------------------------------------------ refusals

    [Fact]
    public void BackwardWithDoWritesGradientsThatMatchTheReference()
    {
        var rng = new Random(15);
        var q = WriteTensor<float>("q.npy", rng, 1, 21, 2, 16);
        var k = WriteTensor<float>("k.npy", rng, 1, 30, 1, 16);
        var v = WriteTensor<float>("v.npy", rng, 1, 30, 1, 16);
        var dOut = WriteTensor<float>("do.npy", rng, 1, 21, 2, 16);

        int code = VerifyCommand.Run(Args() with { Do = PathOf("do.npy"), Causal = true }, stdout, stderr);

        code.Should().Be(0, stderr.ToString());
        var expected = ReferenceAttention.Backward(dOut, q, k, v, causal: true);
        foreach (var (name, reference, shape) in new[] { ("dq", expected.DQ, new[] { 1, 21, 2, 16 }), ("dk", expected.DK, new[] { 1, 30, 1, 16 }),
                     ("dv", expected.DV, new[] { 1, 30, 1, 16 }) })
        {
            var g = NpyFile.Read(Path.Combine(OutDir, name + ".npy"));
            g.Shape.Should().Equal(shape, name);
            MaxError(reference, g.AsSingle().Select(x => (double)x)).Should().BeLessThan(1e-5, name);
        }
    }

    [Fact]
    public void DoOfTheWrongShapeIsRefusedAndNothingWritten()
    {
        var rng = new Random(16);
        WriteTensor<Half>("q.npy", rng, 1, 4, 1, 8);
        WriteTensor<Half>("k.npy", rng, 1, 4, 1, 8);
        WriteTensor<Half>("v.npy", rng, 1, 4, 1, 8);
        WriteTensor<Half>("do.npy", rng, 1, 5, 1, 8);

        int code = VerifyCommand.Run(Args() with { Do = PathOf("do.npy") }, stdout, stderr);

        code.Should().Be(VerifyCommand.Failed);
        OneLine(stderr.ToString()).Should().Contain("do.npy").And.Contain("seqlen is 5");
        Directory.Exists(Path.Combine(dir, "out")).Should().BeFalse();
    }

    public static TheoryData<string> BadInputs => new()
    {
        "wrong-magic", "wrong-dtype", "rank-3", "truncated", "head-dim-mismatch", "dtype-mismatch",
        "uint16-without-bf16", "float-with-bf16", "heads-not-a-multiple", "seqlen-k-v-mismatch", "missing-file",
        "head-dim-too-large",
    };

    [Theory, MemberData(nameof(BadInputs))]
    public void BadInputGivesOneLineNamingTheFileAndWritesNothing(string bad)
    {
        var rng = new Random(16);
        WriteTensor<Half>("q.npy", rng, 1, 5, 2, 8);
        WriteTensor<Half>("k.npy", rng, 1, 6, 1, 8);
        WriteTensor<Half>("v.npy", rng, 1, 6, 1, 8);
        var args = Args();
        string culprit = "k.npy";
        switch (bad)
        {
            case "wrong-magic":
                File.WriteAllBytes(PathOf("k.npy"), "PK\u0003\u0004 this is a zip"u8.ToArray());
                break;
            case "wrong-dtype":
                NpyFile.Write(PathOf("k.npy"), new int[6 * 8], 1, 6, 1, 8);
                break;
            case "rank-3":
                NpyFile.Write(PathOf("k.npy"), new Half[6 * 8], 6, 1, 8);
                break;
            case "truncated":
                var bytes = File.ReadAllBytes(PathOf("k.npy"));
                File.WriteAllBytes(PathOf("k.npy"), bytes[..^10]);
                break;
            case "head-dim-mismatch":
                WriteTensor<Half>("k.npy", rng, 1, 6, 1, 16);
                break;
            case "dtype-mismatch":
                WriteTensor<float>("k.npy", rng, 1, 6, 1, 8);
                break;
            case "uint16-without-bf16":
                culprit = "q.npy";
                WriteTensor<BFloat16>("q.npy", rng, 1, 5, 2, 8);
                break;
            case "float-with-bf16":
                culprit = "q.npy";
                args = args with { BFloat16 = true };
                break;
            case "heads-not-a-multiple":
                WriteTensor<Half>("k.npy", rng, 1, 6, 3, 8);
                WriteTensor<Half>("v.npy", rng, 1, 6, 3, 8);
                break;
            case "seqlen-k-v-mismatch":
                culprit = "v.npy";
                WriteTensor<Half>("v.npy", rng, 1, 7, 1, 8);
                break;
            case "missing-file":
                File.Delete(PathOf("k.npy"));
                break;
            case "head-dim-too-large": // caught by the engine, not by verify's own checks
                culprit = "q.npy";
                WriteTensor<Half>("q.npy", rng, 1, 5, 2, 300);
                WriteTensor<Half>("k.npy", rng, 1, 6, 1, 300);
                WriteTensor<Half>("v.npy", rng, 1, 6, 1, 300);
                break;
        }

        int code = VerifyCommand.Run(args, stdout, stderr);

        code.Should().NotBe(0);
        string message = stderr.ToString();
        OneLine(message).Should().Contain(PathOf(culprit));
        stdout.ToString().Should().BeEmpty();
        Directory.Exists(Path.Combine(dir, "out")).Should().BeFalse("nothing may be written for bad inputs");
    }

    // ------------------------------------------------------------ helpers

    private VerifyArgs Args() =>
        new(PathOf("q.npy"), PathOf("k.npy"), PathOf("v.npy"), OutDir) { Device = AcceleratorChoice.Cpu };

    private string PathOf(string name) => Path.Combine(dir, name);

    private HostTensor<T> WriteTensor<T>(string name, Random rng, int b, int n, int h, int d) where T : unmanaged
    {
        var data = new T[b * n * h * d];
        for (int i = 0; i < data.Length; i++)
            data[i] = Elements.FromSingle<T>(rng.NextSingle() * 2f - 1f);
        int[] shape = [b, n, h, d];
        switch (data)
        {
            case float[] f: NpyFile.Write(PathOf(name), f, shape); break;
            case Half[] f: NpyFile.Write(PathOf(name), f, shape); break;
            case BFloat16[] f: NpyFile.Write(PathOf(name), f, shape); break;
        }
        return HostTensor<T>.Bshd(data, b, n, h, d);
    }

    private void CheckLse(ReferenceAttention.Result reference, int[] shape, double tolerance)
    {
        var lse = NpyFile.Read(Path.Combine(OutDir, "lse.npy"));
        lse.DType.Should().Be(NpyDType.Float32);
        lse.Shape.Should().Equal(shape);
        MaxError(reference.Lse, lse.AsSingle().Select(x => (double)x)).Should().BeLessThan(tolerance);
    }

    // Equal infinities (rows that see no key) count as 0; NaN as +inf so it always fails.
    private static double MaxError(double[] expected, IEnumerable<double> actual) =>
        expected.Zip(actual, (e, a) => e == a ? 0 : double.IsNaN(a) ? double.PositiveInfinity : Math.Abs(a - e))
            .DefaultIfEmpty(0).Max();

    private static string OneLine(string text)
    {
        text.TrimEnd('\r', '\n').Should().NotContainAny("\n", "\r");
        text.Should().NotBeNullOrWhiteSpace();
        return text;
    }
}
