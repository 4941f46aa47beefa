using System.Text.RegularExpressions;
using FlashAttention.Kernels.Launch;
using FlashAttention.Kernels.Portable;
using FlashAttention.Tests.Support;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime.Cuda;

namespace FlashAttention.Tests;

/// <summary>
/// The streaming decode step with transposed team sums (<see cref="DecodeTransposedScores{TTarget}"/>, experiment
/// FLASH_DECODE_TRANSPOSE=1), reached through an engine that takes it whatever the switch says: head dim 128
/// with 4 rows a lane (4 rows, or 8 in two lane sets), against the float64 reference and bit for bit
/// against the butterfly step, with padding rows, causal limits that differ per row, and rows that see no key.
/// </summary>
public class DecodeTransposeTests
{
    private static readonly Lazy<AttentionEngine> Transposed =
        new(() => AttentionEngine.WithDecodeTransposedScores(TestDevice.Engine.Accelerator, transposed: true));

    private static readonly Lazy<AttentionEngine> Butterfly =
        new(() => AttentionEngine.WithDecodeTransposedScores(TestDevice.Engine.Accelerator, transposed: false));

    /// <summary>
    /// Lengths 1, 113, 203 and an empty item; 4 rows (8:2 GQA, 3:1 with a padding row, 2:1 x seqlen_q 2) and 8 rows
    /// (4:1 x seqlen_q 2, 5:1 with three padding rows, 2:1 x seqlen_q 3); causal, so rows of one kv head see different
    /// last keys; automatic splits.
    /// </summary>
    [Theory]
    [InlineData("float16", 8, 2, 1)]
    [InlineData("bfloat16", 3, 1, 1)]
    [InlineData("float16", 2, 1, 2)]
    [InlineData("bfloat16", 4, 1, 2)]
    [InlineData("float16", 5, 1, 1)]
    [InlineData("float16", 2, 1, 3)]
    public void Matches_reference(string dtype, int hq, int hkv, int sq) =>
        DecodeCase.Run(dtype, new DecodeCase([113, 1, 0, 203], 210, sq, hq, hkv, 128, Causal: true, Splits: 0, Path: DecodePath.Streaming), Transposed.Value);

    /// <summary>
    /// Several splits over long items (16 keys a step: splits end inside steps), not causal, and splits past
    /// a short item's end (empty splits: m stays -inf, p and alpha 0).
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(5)]
    [InlineData(16)]
    public void Several_splits(int splits) =>
        DecodeCase.Run("float16", new DecodeCase([1100, 203, 17], 1100, 1, 8, 2, 128, Causal: false, Splits: splits, Path: DecodePath.Streaming), Transposed.Value);

    /// <summary>
    /// Scores spread wide (scale 1.5: a std of about 17 in the log2 domain) over 1100 keys, so the running max passes m by more
    /// than <c>LazyRescale.Threshold</c> several times (m moves, acc is rescaled) and by less many more times
    /// (m stays, p above 1): both paths of the lazy rescale, against the reference, in one and in three splits.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void Wide_scores_move_m_lazily(int splits) =>
        DecodeCase.Run("float16", new DecodeCase([1100, 77], 1100, 1, 8, 2, 128, Causal: false, Splits: splits, Scale: 1.5f, Path: DecodePath.Streaming),
            Transposed.Value);

    /// <summary>Causal with more queries than keys: the first rows see nothing (O = 0, LSE = -inf, never NaN).</summary>
    [Fact]
    public void Causal_rows_before_the_first_key() =>
        DecodeCase.Run("float16", new DecodeCase([2, 1], 8, 3, 2, 1, 128, Causal: true, Splits: 1, Path: DecodePath.Streaming), Transposed.Value);

    /// <summary>A paged cache with an append (the register loads' per-key page lookups).</summary>
    [Fact]
    public void Paged_with_append() =>
        DecodeCase.Run("bfloat16", new DecodeCase([150, 17], 192, 2, 4, 2, 128, Causal: true, Splits: 3, PageSize: 16, SeqNew: 2, Path: DecodePath.Streaming),
            Transposed.Value);

    /// <summary>Shapes the transposed step does not fit run the butterfly kernel unchanged (d 64, 1 row a lane, 2 rows a lane).</summary>
    [Theory]
    [InlineData(4, 1, 64)]
    [InlineData(8, 8, 128)]
    [InlineData(4, 2, 128)]
    public void Other_shapes_are_unchanged(int hq, int hkv, int d) =>
        DecodeCase.Run("float16", new DecodeCase([113, 40], 120, 1, hq, hkv, d, Causal: true, Splits: 2, Path: DecodePath.Streaming), Transposed.Value);

    /// <summary>
    /// The transposed sums add the same pairs in the same order as the butterfly and the softmax does the same
    /// arithmetic, so O and LSE are bit for bit the butterfly step's on the CPU accelerator (a GPU's compiler may
    /// contract the two kernels' arithmetic differently, so there they only match the reference).
    /// </summary>
    [Theory]
    [InlineData(8, 2, 1, 0, null)]
    [InlineData(2, 1, 3, 3, null)]
    [InlineData(8, 2, 1, 2, 1.5f)]   // wide scores: m moves lazily in both steps alike
    public void Same_bits_as_the_butterfly(int hq, int hkv, int sq, int splits, float? scale)
    {
        var rng = new RandomTensors(17);
        int b = 3, cap = 300, d = 128;
        var k = rng.Bshd<Half>(b, cap, hkv, d);
        var v = rng.Bshd<Half>(b, cap, hkv, d);
        var q = rng.Bshd<Half>(b, sq, hq, d);
        int[] lens = [203, 1, 300];
        var options = new DecodeOptions { Causal = true, NumSplits = splits, ReturnLse = true, Path = DecodePath.Streaming, Scale = scale };
        var expected = Butterfly.Value.Decode(q, new KvCache<Half>(k, v, lens), options);
        var actual = Transposed.Value.Decode(q, new KvCache<Half>(k, v, lens), options);
        if (Transposed.Value.AcceleratorType != AcceleratorType.CPU)
            return;
        DecodeCase.SameBits(actual.Output.Data, expected.Output.Data).Should().BeTrue("O must be the butterfly step's, bit for bit");
        DecodeCase.SameBits(actual.Lse!, expected.Lse!).Should().BeTrue("LSE must be the butterfly step's, bit for bit");
    }

    /// <summary>
    /// The CUDA kernel (ring, fp16, 4 rows), compiled offline: the CPU runs name the team's lanes absolutely, so this checks
    /// the PTX's own form: p, alpha (12 a step) and m, l (8 at the end) come by index shuffles naming the team lane as an
    /// immediate, the 32 butterfly shuffles of the scores are down to 9 (8 for the reduce-scatter, 1 for a row's other key),
    /// and the kernel has 9 exp2 where the butterfly one has 18 (3 a step against 12, and the merge's 6).
    /// </summary>
    [Fact]
    public void Cuda_kernel_takes_the_transposed_shuffles()
    {
        using var context = Context.Create(b => b.EnableAlgorithms().Optimize(OptimizationLevel.O2));
        var arch = CudaArchitecture.SM_90;
        using var backend = new PTXBackend(context, new CudaCapabilityContext(arch), arch, CudaInstructionSet.ISA_80, null);
        string Ptx(bool transposed) => ((PTXCompiledKernel)backend.Compile(
            EntryPointDescription.FromExplicitlyGroupedKernel(KernelCatalog.DecodeStream(typeof(Half), 128, 4, nativePtx: true, ring: true, transposed: transposed)),
            KernelSpecialization.Empty)).PTXAssembly;
        int Count(string ptx, string pattern) => Regex.Matches(ptx, pattern).Count;

        string butterfly = Ptx(false), transposed = Ptx(true);
        Count(butterfly, @"shfl\.sync\.bfly").Should().Be(34);
        Count(butterfly, @"ex2\.approx").Should().Be(18);
        Count(transposed, @"shfl\.sync\.bfly").Should().Be(11, "9 in the key loop, 2 in the merge as before");
        Count(transposed, @"shfl\.sync\.idx\.b32\s+%f\d+, %f\d+, \d+, ").Should().Be(20, "every index shuffle names its team lane as an immediate");
        Count(transposed, @"ex2\.approx").Should().Be(9);
    }

    /// <summary>Where the transposed step applies: 16 lanes a key row, 4 rows a lane, 2 keys a step; the catalog refuses the rest.</summary>
    [Theory]
    [InlineData(128, 4, true)]
    [InlineData(128, 8, true)]
    [InlineData(128, 2, false)]
    [InlineData(128, 1, false)]
    [InlineData(64, 4, false)]
    [InlineData(256, 4, false)]
    public void Applies_at_d128_with_4_rows_a_lane(int dim, int rows, bool fits)
    {
        DecodeStreamKernel.SupportsTransposedScores(dim, rows).Should().Be(fits);
        var build = () => KernelCatalog.DecodeStream(typeof(Half), dim, rows, transposed: true);
        if (fits)
            build.Should().NotThrow();
        else
            build.Should().Throw<ArgumentException>();
    }
}
