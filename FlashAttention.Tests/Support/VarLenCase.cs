using FlashAttention.Reference;

namespace FlashAttention.Tests.Support;

/// <summary>
/// One variable-length check: sequences of the given query and key lengths packed along the token
/// axis, fresh random inputs, outputs (and gradients) poisoned with NaN, the packed call against the
/// float64 reference run on each sequence's slice alone, under FlashAttention's rule (error &lt;= 2 x
/// the naive low-precision error + slack). Sequences with no queries or no keys must give zeros
/// (and LSE -inf). ALiBi slopes may be [heads_q] or [batch, heads_q]; with dropout each sequence b
/// is checked as batch item b of a padded call (stream offset + b * heads_q).
/// </summary>
public sealed record VarLenCase(int[] LensQ, int[] LensK, int HeadsQ, int HeadsKv, int HeadDim, bool Causal,
    KernelPath Kernel = KernelPath.Auto, TileConfig? Tile = null, TensorCoreTile? TensorCoreTile = null,
    AttentionWindow? Window = null, float[]? AlibiSlopes = null, float Softcap = 0, float? Scale = null,
    float DropoutP = 0, ulong DropoutSeed = 0, ulong DropoutOffset = 0, bool Backward = false, int ExtraMax = 0) : IAttentionCase
{
    public override string ToString() =>
        $"{(Backward ? "backward " : "")}q[{string.Join(",", LensQ)}] k[{string.Join(",", LensK)}] hq{HeadsQ} hkv{HeadsKv} d{HeadDim}" +
        $"{(Causal ? " causal" : "")}{(Kernel != KernelPath.Auto ? $" {Kernel}" : "")}{(Tile is { } t ? $" tile{t.Br}x{t.Bc}x{t.Threads} {t.Variant}" : "")}" +
        $"{(TensorCoreTile is { } w ? $" warps{w.Warps}x{w.WarpRows} bc{w.Bc}" : "")}" +
        $"{(Window is { } win ? $" window({win.Left},{win.Right})" : "")}" +
        $"{(AlibiSlopes is { } a ? $" alibi[{string.Join(",", a)}]" : "")}{(Softcap != 0 ? $" softcap{Softcap}" : "")}" +
        $"{(Scale is { } s ? $" scale{s}" : "")}{(DropoutP != 0 ? $" dropout{DropoutP} seed{DropoutSeed} offset{DropoutOffset}" : "")}" +
        $"{(ExtraMax != 0 ? $" max+{ExtraMax}" : "")}";

    /// <summary>The packed call's options.</summary>
    public AttentionOptions Options => new()
    {
        Causal = Causal, Kernel = Kernel, Tile = Tile, TensorCoreTile = TensorCoreTile, BackwardTile = Backward ? Tile : null,
        Window = Window, AlibiSlopes = AlibiSlopes, Softcap = Softcap, Scale = Scale,
        DropoutP = DropoutP, DropoutSeed = DropoutSeed, DropoutOffset = DropoutOffset, ReturnLse = true,
    };

    /// <summary>Cumulative offsets of <paramref name="lengths"/>: [0, l0, l0 + l1, ...].</summary>
    public static int[] Cumulative(int[] lengths)
    {
        var cu = new int[lengths.Length + 1];
        for (int b = 0; b < lengths.Length; b++)
            cu[b + 1] = cu[b] + lengths[b];
        return cu;
    }

    public void Check<T>(AttentionEngine engine) where T : unmanaged
    {
        string name = $"{Elements.Name<T>()} varlen {this}";
        var rng = new RandomTensors(RandomTensors.SeedFor(name));
        int[] cuQ = Cumulative(LensQ), cuK = Cumulative(LensK);
        int totalQ = cuQ[^1], totalK = cuK[^1];
        int maxQ = Math.Min(totalQ, LensQ.Max() + ExtraMax), maxK = Math.Min(totalK, LensK.Max() + ExtraMax);
        var q = rng.Bshd<T>(1, totalQ, HeadsQ, HeadDim);
        var k = rng.Bshd<T>(1, totalK, HeadsKv, HeadDim);
        var v = rng.Bshd<T>(1, totalK, HeadsKv, HeadDim);
        var output = GradientJudge.Poisoned<T>(q.Layout);
        var lse = Enumerable.Repeat(float.NaN, HeadsQ * totalQ).ToArray();
        var options = Options;

        engine.ForwardVarLen(q, k, v, output, lse, cuQ, cuK, maxQ, maxK, options);

        if (!Backward)
        {
            for (int b = 0; b < LensQ.Length; b++)
            {
                if (LensQ[b] == 0)
                    continue;
                var one = PerSequence(b);
                one.Judge($"{name} sequence {b}", rng.Seed, Slice(q, cuQ[b], LensQ[b]), Slice(k, cuK[b], LensK[b]), Slice(v, cuK[b], LensK[b]),
                    options.ScaleFor(HeadDim), Slice(output, cuQ[b], LensQ[b]), lse[(HeadsQ * cuQ[b])..(HeadsQ * cuQ[b + 1])]);
            }
            return;
        }

        var dOut = rng.Bshd<T>(1, totalQ, HeadsQ, HeadDim);
        var dq = GradientJudge.Poisoned<T>(q.Layout);
        var dk = GradientJudge.Poisoned<T>(k.Layout);
        var dv = GradientJudge.Poisoned<T>(k.Layout);
        engine.BackwardVarLen(dOut, q, k, v, output, lse, dq, dk, dv, cuQ, cuK, maxQ, maxK, options);

        float scale = options.ScaleFor(HeadDim);
        for (int b = 0; b < LensQ.Length; b++)
        {
            string seq = $"{name} sequence {b}";
            var (qb, kb, vb, dob) = (Slice(q, cuQ[b], LensQ[b]), Slice(k, cuK[b], LensK[b]), Slice(v, cuK[b], LensK[b]), Slice(dOut, cuQ[b], LensQ[b]));
            var one = PerSequence(b).Options;
            var reference = ReferenceAttention.Backward(dob, qb, kb, vb, one);
            var naive = NaiveBackward.Run(dob, qb, kb, vb, scale, Causal, one);
            GradientJudge.Check(seq, rng.Seed, "dQ", reference.DQ, naive.DQ, Slice(dq, cuQ[b], LensQ[b]));
            GradientJudge.Check(seq, rng.Seed, "dK", reference.DK, naive.DK, Slice(dk, cuK[b], LensK[b]));
            GradientJudge.Check(seq, rng.Seed, "dV", reference.DV, naive.DV, Slice(dv, cuK[b], LensK[b]));
        }
    }

    /// <summary>Sequence <paramref name="b"/> as an ordinary one-item forward case (its slopes row, its dropout stream).</summary>
    private ForwardCase PerSequence(int b)
    {
        float[]? slopes = AlibiSlopes is { } a && a.Length != HeadsQ ? a[(b * HeadsQ)..((b + 1) * HeadsQ)] : AlibiSlopes;
        return new ForwardCase(1, LensQ[b], LensK[b], HeadsQ, HeadsKv, HeadDim, Causal, Scale: Scale, Window: Window,
            AlibiSlopes: slopes, Softcap: Softcap, DropoutP: DropoutP, DropoutSeed: DropoutSeed,
            DropoutOffset: DropoutOffset + (ulong)(b * HeadsQ));
    }

    /// <summary>Tokens start .. start + length of a packed tensor, copied as a contiguous [1, length, heads, headdim] tensor.</summary>
    private static HostTensor<T> Slice<T>(HostTensor<T> packed, int start, int length) where T : unmanaged
    {
        var l = packed.Layout;
        long row = (long)l.Heads * l.HeadDim;
        return HostTensor<T>.Bshd(packed.Data[(int)(start * row)..(int)((start + length) * row)], 1, length, l.Heads, l.HeadDim);
    }
}
