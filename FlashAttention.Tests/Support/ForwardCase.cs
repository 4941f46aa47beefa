using FlashAttention.Reference;

namespace FlashAttention.Tests.Support;

/// <summary>
/// One forward check: fresh random q, k, v; outputs poisoned with NaN; the kernel against the
/// float64 reference under FlashAttention's rule, for O and for LSE. Failures name the seed.
/// <c>MixedKvLayout</c> stores V in the other layout than q and k (BHSD beside BSHD, or the reverse), so
/// K and V have different strides.
/// </summary>
public sealed record ForwardCase(
    int Batch, int SeqQ, int SeqK, int HeadsQ, int HeadsKv, int HeadDim, bool Causal,
    bool BhsdLayout = false, float? Scale = null, TileConfig? Tile = null,
    KernelPath Kernel = KernelPath.Auto, TensorCoreTile? TensorCoreTile = null,
    AttentionWindow? Window = null, float[]? AlibiSlopes = null, float Softcap = 0,
    int[]? BiasDims = null, int[]? MaskDims = null, bool BiasNegativeInfinity = false,
    float DropoutP = 0, ulong DropoutSeed = 0, ulong DropoutOffset = 0, int[]? BlockDims = null,
    bool MaskMostlyKept = false, bool MaskDocuments = false, bool HalfBias = false, bool MixedKvLayout = false) : IAttentionCase
{
    public override string ToString() =>
        $"b{Batch} sq{SeqQ} sk{SeqK} hq{HeadsQ} hkv{HeadsKv} d{HeadDim}{(Causal ? " causal" : "")}{(BhsdLayout ? " bhsd" : "")}{(MixedKvLayout ? " v-other-layout" : "")}" +
        $"{(Scale is { } s ? $" scale{s}" : "")}{(Tile is { } t ? $" tile{t.Br}x{t.Bc}x{t.Threads} {t.Variant}" : "")}" +
        $"{(Kernel != KernelPath.Auto ? $" {Kernel}" : "")}{(TensorCoreTile is { } w ? $" warps{w.Warps}{(w.Pipelined ? " pipelined" : "")}" : "")}" +
        $"{(Window is { } win ? $" window({win.Left},{win.Right})" : "")}" +
        $"{(AlibiSlopes is { } a ? $" alibi[{string.Join(",", a)}]" : "")}{(Softcap != 0 ? $" softcap{Softcap}" : "")}" +
        $"{BiasMaskInputs.Describe("bias", BiasDims)}{(HalfBias ? "fp16" : "")}{(BiasNegativeInfinity ? "-inf" : "")}{BiasMaskInputs.Describe("mask", MaskDims)}{(MaskMostlyKept ? " mostly-kept" : "")}{(MaskDocuments ? " documents" : "")}" +
        $"{(DropoutP != 0 ? $" dropout{DropoutP} seed{DropoutSeed} offset{DropoutOffset}" : "")}{BiasMaskInputs.Describe("blocks", BlockDims)}";

    /// <summary>The options this case runs with (its output and LSE are passed separately).</summary>
    public AttentionOptions Options => new()
    {
        Causal = Causal, Scale = Scale, Tile = Tile, Kernel = Kernel, TensorCoreTile = TensorCoreTile,
        Window = Window, AlibiSlopes = AlibiSlopes, Softcap = Softcap,
        Bias = HalfBias ? null : BiasMaskInputs.Bias(BiasDims, SeqQ, SeqK, RandomTensors.SeedFor(ToString()), BiasNegativeInfinity),
        HalfBias = HalfBias ? BiasMaskInputs.HalfBias(BiasDims, SeqQ, SeqK, RandomTensors.SeedFor(ToString()), BiasNegativeInfinity) : null,
        Mask = BiasMaskInputs.Mask(MaskDims, SeqQ, SeqK, RandomTensors.SeedFor(ToString()), MaskMostlyKept, MaskDocuments),
        DropoutP = DropoutP, DropoutSeed = DropoutSeed, DropoutOffset = DropoutOffset,
        BlockMask = BiasMaskInputs.BlockMask(BlockDims, SeqQ, SeqK, RandomTensors.SeedFor(ToString())),
    };

    /// <summary>Runs the case for element type <typeparamref name="T"/> and asserts.</summary>
    public void Check<T>(AttentionEngine engine) where T : unmanaged
    {
        string name = $"{Elements.Name<T>()} {this}";
        var rng = new RandomTensors(RandomTensors.SeedFor(name));
        var q = BhsdLayout ? rng.Bhsd<T>(Batch, SeqQ, HeadsQ, HeadDim) : rng.Bshd<T>(Batch, SeqQ, HeadsQ, HeadDim);
        var k = BhsdLayout ? rng.Bhsd<T>(Batch, SeqK, HeadsKv, HeadDim) : rng.Bshd<T>(Batch, SeqK, HeadsKv, HeadDim);
        var v = BhsdLayout != MixedKvLayout ? rng.Bhsd<T>(Batch, SeqK, HeadsKv, HeadDim) : rng.Bshd<T>(Batch, SeqK, HeadsKv, HeadDim);
        var output = BhsdLayout
            ? HostTensor<T>.Bhsd(Poisoned<T>(q.Data.Length), Batch, HeadsQ, SeqQ, HeadDim)
            : HostTensor<T>.Bshd(Poisoned<T>(q.Data.Length), Batch, SeqQ, HeadsQ, HeadDim);
        var lse = Enumerable.Repeat(float.NaN, Batch * HeadsQ * SeqQ).ToArray();
        var options = Options;

        engine.Forward(q, k, v, output, lse, options);

        Judge(name, rng.Seed, q, k, v, options.ScaleFor(HeadDim), output, lse);
    }

    /// <summary>Asserts <paramref name="output"/> and <paramref name="lse"/> against the reference for these inputs.</summary>
    public void Judge<T>(string name, int seed, HostTensor<T> q, HostTensor<T> k, HostTensor<T> v, float scale,
        HostTensor<T> output, float[] lse) where T : unmanaged
    {
        var reference = ReferenceAttention.Forward(q, k, v, Options with { Scale = scale });
        var naive = NaiveAttention.Forward(q, k, v, scale, Causal, Options);
        int dim = HeadDim, hq = HeadsQ, sq = SeqQ;
        double Out(double[] flat, int i) => flat[i];
        double Ours(int i)
        {
            int d = i % dim, h = i / dim % hq, s = i / dim / hq % sq, b = i / dim / hq / sq;
            return Elements.ToSingle(output[b, s, h, d]);
        }

        var ours = Accuracy.MaxError(reference.Output, Ours);
        var base_ = Accuracy.MaxError(reference.Output, i => Out(naive.Output, i));
        double bound = 2 * base_.Error + Accuracy.Slack<T>();
        ours.Error.Should().BeLessThanOrEqualTo(bound,
            $"O of {name} (seed {seed}): max error {ours.Error:E3} at flat index {ours.Index} must be <= 2 x naive {base_.Error:E3} + slack");

        var oursLse = Accuracy.MaxError(reference.Lse, i => lse[i]);
        var baseLse = Accuracy.MaxError(reference.Lse, i => naive.Lse[i]);
        double lseBound = 2 * baseLse.Error + Accuracy.Slack<T>();
        oursLse.Error.Should().BeLessThanOrEqualTo(lseBound,
            $"LSE of {name} (seed {seed}): max error {oursLse.Error:E3} at index {oursLse.Index} must be <= 2 x naive {baseLse.Error:E3} + slack");
    }

    private static T[] Poisoned<T>(int length) where T : unmanaged
    {
        var data = new T[length];
        Array.Fill(data, Elements.FromSingle<T>(float.NaN));
        return data;
    }
}
