using System.CommandLine;
using FlashAttention.Bench;
using FlashAttention.IO;
using FlashAttention.Reference;

namespace FlashAttention.Tests;

/// <summary>
/// <c>verify --cu-seqlens-q CQ.npy --cu-seqlens-k CK.npy</c>: packed [total_tokens, heads, headdim]
/// inputs; o.npy and the gradients come back packed and equal the float64 reference run per sequence;
/// lse.npy is [heads_q, total_q]. Bad offsets are refused in one line naming the file, writing nothing.
/// </summary>
public sealed class VerifyVarLenTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("flash-verify-varlen-").FullName;
    private readonly StringWriter stdout = new();
    private readonly StringWriter stderr = new();

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private string OutDir => Path.Combine(dir, "out");

    private string PathOf(string name) => Path.Combine(dir, name);

    private static readonly int[] LensQ = [5, 0, 19];
    private static readonly int[] LensK = [9, 4, 13];
    private const int HeadsQ = 2, HeadsKv = 1, Dim = 16;

    [Fact]
    public void PackedInputsMatchTheReferencePerSequence()
    {
        var rng = new Random(31);
        int[] cuQ = Support.VarLenCase.Cumulative(LensQ), cuK = Support.VarLenCase.Cumulative(LensK);
        var q = Write("q.npy", rng, cuQ[^1], HeadsQ);
        var k = Write("k.npy", rng, cuK[^1], HeadsKv);
        var v = Write("v.npy", rng, cuK[^1], HeadsKv);
        var dOut = Write("do.npy", rng, cuQ[^1], HeadsQ);
        NpyFile.Write(PathOf("cq.npy"), cuQ, cuQ.Length);
        NpyFile.Write(PathOf("ck.npy"), cuK, cuK.Length);
        var root = new RootCommand { VerifyCommand.Create(stdout, stderr) };

        int code = root.Parse([
            "verify", "--q", PathOf("q.npy"), "--k", PathOf("k.npy"), "--v", PathOf("v.npy"), "--out", OutDir, "--do", PathOf("do.npy"),
            "--cu-seqlens-q", PathOf("cq.npy"), "--cu-seqlens-k", PathOf("ck.npy"), "--causal", "--device", "cpu",
        ]).Invoke();

        code.Should().Be(0, stderr.ToString());
        var o = NpyFile.Read(Path.Combine(OutDir, "o.npy"));
        var lse = NpyFile.Read(Path.Combine(OutDir, "lse.npy"));
        var dq = NpyFile.Read(Path.Combine(OutDir, "dq.npy"));
        var dk = NpyFile.Read(Path.Combine(OutDir, "dk.npy"));
        o.Shape.Should().Equal(cuQ[^1], HeadsQ, Dim);
        lse.Shape.Should().Equal(HeadsQ, cuQ[^1]);
        dk.Shape.Should().Equal(cuK[^1], HeadsKv, Dim);
        var (oData, lseData, dqData, dkData) = (o.AsSingle(), lse.AsSingle(), dq.AsSingle(), dk.AsSingle());
        var options = new AttentionOptions { Causal = true };
        for (int b = 0; b < LensQ.Length; b++)
        {
            if (LensQ[b] == 0)
            {
                // Keys no query sees get zero gradients.
                dkData[(cuK[b] * HeadsKv * Dim)..(cuK[b + 1] * HeadsKv * Dim)].Should().OnlyContain(x => x == 0f);
                continue;
            }
            var (qb, kb, vb, dob) = (Slice(q, cuQ[b], LensQ[b]), Slice(k, cuK[b], LensK[b]), Slice(v, cuK[b], LensK[b]), Slice(dOut, cuQ[b], LensQ[b]));
            var reference = ReferenceAttention.Forward(qb, kb, vb, options);
            var grads = ReferenceAttention.Backward(dob, qb, kb, vb, options);
            int rows = LensQ[b] * HeadsQ * Dim;
            for (int i = 0; i < rows; i++)
            {
                oData[cuQ[b] * HeadsQ * Dim + i].Should().BeApproximately((float)reference.Output[i], 1e-5f, $"o of sequence {b}");
                dqData[cuQ[b] * HeadsQ * Dim + i].Should().BeApproximately((float)grads.DQ[i], 1e-4f, $"dq of sequence {b}");
            }
            for (int i = 0; i < LensK[b] * HeadsKv * Dim; i++)
                dkData[cuK[b] * HeadsKv * Dim + i].Should().BeApproximately((float)grads.DK[i], 1e-4f, $"dk of sequence {b}");
            for (int h = 0; h < HeadsQ; h++)
            for (int i = 0; i < LensQ[b]; i++)
                lseData[h * cuQ[^1] + cuQ[b] + i].Should().BeApproximately((float)reference.Lse[h * LensQ[b] + i], 1e-5f, $"lse of sequence {b}");
        }
    }

    [Fact]
    public void OffsetsThatDoNotEndAtTheTotalAreRefusedNamingTheFile()
    {
        var rng = new Random(32);
        Write("q.npy", rng, 10, 1);
        Write("k.npy", rng, 10, 1);
        Write("v.npy", rng, 10, 1);
        NpyFile.Write(PathOf("cq.npy"), new[] { 0, 4, 9 }, 3);
        NpyFile.Write(PathOf("ck.npy"), new[] { 0, 4, 10 }, 3);

        int code = VerifyCommand.Run(new VerifyArgs(PathOf("q.npy"), PathOf("k.npy"), PathOf("v.npy"), OutDir)
            { CuSeqLensQ = PathOf("cq.npy"), CuSeqLensK = PathOf("ck.npy"), Device = AcceleratorChoice.Cpu }, stdout, stderr);

        code.Should().Be(VerifyCommand.Failed);
        stderr.ToString().Should().Contain("cq.npy").And.Contain("expected q's total tokens 10");
        Directory.Exists(OutDir).Should().BeFalse("nothing is written on invalid input");
    }

    [Fact]
    public void A_single_offsets_file_is_refused()
    {
        var rng = new Random(33);
        Write("q.npy", rng, 10, 1);
        Write("k.npy", rng, 10, 1);
        Write("v.npy", rng, 10, 1);
        NpyFile.Write(PathOf("cq.npy"), new[] { 0, 10 }, 2);

        int code = VerifyCommand.Run(new VerifyArgs(PathOf("q.npy"), PathOf("k.npy"), PathOf("v.npy"), OutDir)
            { CuSeqLensQ = PathOf("cq.npy"), Device = AcceleratorChoice.Cpu }, stdout, stderr);

        code.Should().Be(VerifyCommand.Failed);
        stderr.ToString().Should().Contain("expected both --cu-seqlens-q and --cu-seqlens-k");
    }

    private HostTensor<float> Write(string name, Random rng, int tokens, int heads)
    {
        var data = new float[tokens * heads * Dim];
        for (int i = 0; i < data.Length; i++)
            data[i] = rng.NextSingle() * 2f - 1f;
        NpyFile.Write(PathOf(name), data, tokens, heads, Dim);
        return HostTensor<float>.Bshd(data, 1, tokens, heads, Dim);
    }

    private static HostTensor<float> Slice(HostTensor<float> packed, int start, int length)
    {
        int row = packed.Layout.Heads * Dim;
        return HostTensor<float>.Bshd(packed.Data[(start * row)..((start + length) * row)], 1, length, packed.Layout.Heads, Dim);
    }
}
