using FlashAttention.Kernels.Portable;
using FlashAttention.Tests.Support;

namespace FlashAttention.Tests;

/// <summary>The portable forward kernel against the float64 reference at FlashAttention's odd shapes.</summary>
public class ForwardAccuracyTests
{
    private static readonly (int Q, int K)[] SeqLens = [(1, 1), (1, 239), (113, 203), (203, 113), (128, 128), (256, 512)];
    private static readonly int[] HeadDims = [32, 40, 64, 96, 128, 256];
    private static readonly (int Q, int Kv)[] Heads = [(4, 4), (6, 2), (4, 1)]; // MHA, GQA, MQA

    /// <summary>
    /// Every seqlen pair x causal x element type; head dim and head grouping rotate so each
    /// value meets several shapes without running the full product on the CPU.
    /// </summary>
    public static TheoryData<string, ForwardCase> Matrix()
    {
        var data = new TheoryData<string, ForwardCase>();
        int n = 0;
        foreach (var dtype in new[] { "float32", "float16", "bfloat16" })
        foreach (var (sq, sk) in SeqLens)
        foreach (bool causal in new[] { false, true })
        {
            int dim = HeadDims[n % HeadDims.Length];
            var (hq, hkv) = Heads[n / 2 % Heads.Length];
            int batch = n % 3 == 0 ? 2 : 1;
            // Keep the long pair small on the CPU: few heads, moderate dims.
            if (sk >= 512) (hq, hkv, dim) = (2, hkv == 1 ? 1 : 2, Math.Min(dim, 96));
            data.Add(dtype, new ForwardCase(batch, sq, sk, hq, hkv, dim, causal));
            n++;
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Matrix))]
    public void Matches_reference(string dtype, ForwardCase c) => Run(dtype, c);

    /// <summary>Each head dim, the padded ones (40, 59, 111, 160+) included, at an odd shape.</summary>
    [Theory]
    [InlineData(32)] [InlineData(40)] [InlineData(59)] [InlineData(64)] [InlineData(96)] [InlineData(111)]
    [InlineData(128)] [InlineData(160)] [InlineData(192)] [InlineData(224)] [InlineData(256)]
    public void Every_head_dim(int dim) => Run("float16", new ForwardCase(1, 113, 203, 2, 1, dim, Causal: dim % 2 == 0));

    [Theory]
    [InlineData("float32")] [InlineData("float16")] [InlineData("bfloat16")]
    public void Strided_bhsd_layout(string dtype) => Run(dtype, new ForwardCase(2, 113, 203, 4, 2, 64, Causal: true, BhsdLayout: true));

    /// <summary>
    /// K and V whose rows do not start on 16-byte boundaries (K one element into its buffer, V rows two
    /// elements longer than its heads) cannot be read as 16-byte vectors: the v4 forward then loads
    /// them element by element (TileLoader) instead of staging vectors (TileStage).
    /// </summary>
    [Theory]
    [InlineData("float16", 64)] [InlineData("bfloat16", 128)] [InlineData("float32", 128)]
    public void Rows_off_16_byte_boundaries(string dtype, int dim) => ElementTypes.Run(dtype, new UnalignedKeysValues(dim), TestDevice.Engine);

    private sealed record UnalignedKeysValues(int HeadDim) : IAttentionCase
    {
        public void Check<T>(AttentionEngine engine) where T : unmanaged
        {
            const int b = 2, nq = 113, nk = 203, hq = 4, hkv = 2;
            var c = new ForwardCase(b, nq, nk, hq, hkv, HeadDim, Causal: true);
            string name = $"{Elements.Name<T>()} unaligned k/v d{HeadDim}";
            var rng = new RandomTensors(RandomTensors.SeedFor(name));
            var q = rng.Bshd<T>(b, nq, hq, HeadDim);
            var kl = TensorLayout.Bshd(b, nk, hkv, HeadDim) with { Offset = 1 };
            long vRow = hkv * HeadDim + 2;
            var vl = new TensorLayout(b, nk, hkv, HeadDim, vRow * nk, vRow, HeadDim);
            var k = new HostTensor<T>(rng.Array<T>(kl.RequiredLength), kl);
            var v = new HostTensor<T>(rng.Array<T>(vl.RequiredLength), vl);
            var output = GradientJudge.Poisoned<T>(q.Layout);
            var lse = Enumerable.Repeat(float.NaN, b * hq * nq).ToArray();

            engine.Forward(q, k, v, output, lse, c.Options);

            c.Judge(name, rng.Seed, q, k, v, c.Options.ScaleFor(HeadDim), output, lse);
        }
    }

    [Fact]
    public void Custom_scale() => Run("float32", new ForwardCase(1, 77, 130, 2, 2, 64, Causal: false, Scale: 0.9f));

    /// <summary>Every compiled tile height, including tiles larger than the sequence and partial last tiles.</summary>
    [Theory]
    [InlineData(8, 8)] [InlineData(16, 16)] [InlineData(32, 16)] [InlineData(64, 64)]
    [InlineData(128, 32)] [InlineData(16, 128)] [InlineData(128, 128)]
    public void Every_tile_shape(int br, int bc) =>
        Run("float16", new ForwardCase(1, 203, 113, 2, 2, 64, Causal: true, Tile: new TileConfig(br, bc, TileConfig.ForwardThreads(br, 64))));

    /// <summary>
    /// v4 (<see cref="ForwardVariant.V4"/>: parallel softmax, S split over the head dim) at its
    /// default tiles and at tiles where S is split 2, 4 or not at all, padded head dims included.
    /// </summary>
    [Theory]
    [InlineData(32, 64, 32)] [InlineData(40, 64, 32)] [InlineData(64, 64, 32)] [InlineData(64, 128, 32)]
    [InlineData(64, 16, 16)] [InlineData(64, 64, 64)] [InlineData(96, 64, 32)] [InlineData(111, 64, 32)]
    [InlineData(128, 64, 32)] [InlineData(128, 64, 64)] [InlineData(128, 32, 16)] [InlineData(160, 32, 32)]
    [InlineData(224, 32, 32)] [InlineData(256, 32, 32)]
    public void Parallel_variant_tiles(int dim, int br, int bc) =>
        Run("float16", new ForwardCase(1, 203, 113, 2, 1, dim, Causal: dim % 2 == 0, Tile: V4(br, bc, dim)));

    /// <summary>v4 at its d 128 and d 64 tiles over the odd sequence pairs, both masks and every element type.</summary>
    [Theory]
    [MemberData(nameof(ParallelMatrix))]
    public void Parallel_variant_shapes(string dtype, ForwardCase c) => Run(dtype, c);

    public static TheoryData<string, ForwardCase> ParallelMatrix()
    {
        var data = new TheoryData<string, ForwardCase>();
        int n = 0;
        foreach (var (sq, sk) in new[] { (1, 1), (1, 239), (113, 203), (203, 113), (128, 128) })
        foreach (bool causal in new[] { false, true })
        {
            string dtype = new[] { "float32", "float16", "bfloat16" }[n % 3];
            int dim = n % 2 == 0 ? 128 : 64;
            var (hq, hkv) = Heads[n % Heads.Length];
            data.Add(dtype, new ForwardCase(n % 4 == 0 ? 2 : 1, sq, sk, hq, hkv, dim, causal, Tile: V4(64, 32, dim)));
            n++;
        }
        return data;
    }

    private static TileConfig V4(int br, int bc, int dim) =>
        new(br, bc, TileConfig.ForwardThreads(br, dim), ForwardVariant.V4);

    internal static void Run(string dtype, ForwardCase c) => ElementTypes.Run(dtype, c, TestDevice.Engine);
}
