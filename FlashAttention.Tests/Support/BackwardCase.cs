using FlashAttention.Reference;

namespace FlashAttention.Tests.Support;

/// <summary>
/// One backward check: fresh random q, k, v, dO; the kernel's own forward gives O and LSE; dQ, dK,
/// dV poisoned with NaN, then judged against the float64 reference backward under FlashAttention's
/// rule (error &lt;= 2 x naive backward in the input precision + slack).
/// </summary>
public sealed record BackwardCase(int Batch, int SeqQ, int SeqK, int HeadsQ, int HeadsKv, int HeadDim, bool Causal, TileConfig? Tile = null,
    float? Scale = null, AttentionWindow? Window = null, float[]? AlibiSlopes = null, float Softcap = 0,
    int[]? BiasDims = null, int[]? MaskDims = null, bool BiasGradient = false, bool BiasNegativeInfinity = false,
    float DropoutP = 0, ulong DropoutSeed = 0, ulong DropoutOffset = 0, int[]? BlockDims = null, bool HalfBias = false) : IAttentionCase
{
    public override string ToString() =>
        $"b{Batch} sq{SeqQ} sk{SeqK} hq{HeadsQ} hkv{HeadsKv} d{HeadDim}{(Causal ? " causal" : "")}{(Tile is { } t ? $" tile{t.Br}x{t.Bc}" : "")}" +
        $"{(Scale is { } s ? $" scale{s}" : "")}{(Window is { } win ? $" window({win.Left},{win.Right})" : "")}" +
        $"{(AlibiSlopes is { } a ? $" alibi[{string.Join(",", a)}]" : "")}{(Softcap != 0 ? $" softcap{Softcap}" : "")}" +
        $"{BiasMaskInputs.Describe("bias", BiasDims)}{(HalfBias ? "fp16" : "")}{(BiasNegativeInfinity ? "-inf" : "")}{BiasMaskInputs.Describe("mask", MaskDims)}{(BiasGradient ? " dbias" : "")}" +
        $"{(DropoutP != 0 ? $" dropout{DropoutP} seed{DropoutSeed} offset{DropoutOffset}" : "")}{BiasMaskInputs.Describe("blocks", BlockDims)}";

    public void Check<T>(AttentionEngine engine) where T : unmanaged
    {
        string name = $"{Elements.Name<T>()} backward {this}";
        var rng = new RandomTensors(RandomTensors.SeedFor(name));
        var q = rng.Bshd<T>(Batch, SeqQ, HeadsQ, HeadDim);
        var k = rng.Bshd<T>(Batch, SeqK, HeadsKv, HeadDim);
        var v = rng.Bshd<T>(Batch, SeqK, HeadsKv, HeadDim);
        var dOut = rng.Bshd<T>(Batch, SeqQ, HeadsQ, HeadDim);
        var options = new AttentionOptions
        {
            Causal = Causal, ReturnLse = true, BackwardTile = Tile, Scale = Scale, Window = Window, AlibiSlopes = AlibiSlopes, Softcap = Softcap,
            Bias = HalfBias ? null : BiasMaskInputs.Bias(BiasDims, SeqQ, SeqK, rng.Seed, BiasNegativeInfinity),
            HalfBias = HalfBias ? BiasMaskInputs.HalfBias(BiasDims, SeqQ, SeqK, rng.Seed, BiasNegativeInfinity) : null,
            Mask = BiasMaskInputs.Mask(MaskDims, SeqQ, SeqK, rng.Seed),
            ReturnBiasGradient = BiasGradient,
            DropoutP = DropoutP, DropoutSeed = DropoutSeed, DropoutOffset = DropoutOffset,
            BlockMask = BiasMaskInputs.BlockMask(BlockDims, SeqQ, SeqK, rng.Seed),
        };
        var forward = engine.Forward(q, k, v, options);

        var dq = GradientJudge.Poisoned<T>(q.Layout);
        var dk = GradientJudge.Poisoned<T>(k.Layout);
        var dv = GradientJudge.Poisoned<T>(k.Layout);
        float[]? dBias = null;
        if (BiasGradient)
        {
            dBias = new float[(options.Bias?.Data.LongLength ?? options.HalfBias?.Data.LongLength)!.Value];
            Array.Fill(dBias, float.NaN);
        }
        engine.Backward(dOut, q, k, v, forward.Output, forward.Lse!, dq, dk, dv, dBias, options);

        float scale = options.ScaleFor(HeadDim);
        var reference = ReferenceAttention.Backward(dOut, q, k, v, options);
        var naive = NaiveBackward.Run(dOut, q, k, v, scale, Causal, options);
        GradientJudge.Check(name, rng.Seed, "dQ", reference.DQ, naive.DQ, dq);
        GradientJudge.Check(name, rng.Seed, "dK", reference.DK, naive.DK, dk);
        GradientJudge.Check(name, rng.Seed, "dV", reference.DV, naive.DV, dv);
        if (dBias is not null)
        {
            // No naive dBias to compare with: a bound relative to the largest gradient, 16-bit
            // inputs rounding P and dP to about 3 decimal digits.
            var mine = Accuracy.MaxError(reference.DBias!, i => dBias[i]);
            double largest = reference.DBias!.Max(Math.Abs);
            double bound = (typeof(T) == typeof(float) ? 1e-4 : 1e-2) * largest + Accuracy.Slack<T>();
            mine.Error.Should().BeLessThanOrEqualTo(bound,
                $"dBias of {name} (seed {rng.Seed}): max error {mine.Error:E3} at flat index {mine.Index}, largest |dBias| {largest:E3}");
        }
    }
}
