using FlashAttention.Tests.Support;
using static FlashAttention.Tests.TensorCoreForwardTests;

namespace FlashAttention.Tests;

/// <summary>
/// The pipelined wgmma forward (<c>TensorCoreTile.Pipelined</c>: P V of tile j - 1 in flight during tile j's softmax,
/// V loaded a tile behind K) against the float64 reference: every score mode it compiles with, tiles skipped
/// by block masks (so the stages alternate over tiles that are not consecutive), query blocks that see one
/// key tile or none, and all three group sizes. The emulation runs the rows marked Cpu: those that exercise the
/// pipelined loop itself; the score modes it shares with <see cref="WgmmaForwardTests"/> run on CUDA.
/// </summary>
public class WgmmaPipelinedForwardTests
{
    public static TheoryData<string, ForwardCase> Cases()
    {
        var rows = new (bool Cpu, string DType, ForwardCase Case)[]
        {
            (true, "float16", Wgp(1, 113, 203, 2, 1, 64, causal: false)),
            (true, "bfloat16", Wgp(1, 70, 300, 2, 1, 128, causal: true) with { Scale = 1.5f }), // wide scores: m moves lazily (LazyRescale)
            (true, "bfloat16", Wgp(1, 70, 130, 2, 1, 128, causal: true)),            // GQA, rows that see no key
            (true, "float16", Wgp(1, 37, 65, 1, 1, 59, causal: false)),              // odd head dim: element copies into the swizzle
            (true, "bfloat16", Wgp(1, 70, 150, 2, 1, 32, causal: true)),             // d 32 in the 64 tile: cp.async zero-fills dims 32-63
            (true, "float16", Wgp(2, 70, 150, 2, 2, 64, causal: true) with { MixedKvLayout = true }), // K and V with different strides
            (true, "float16", Wgp(1, 150, 60, 1, 1, 128, causal: false, warps: 8)),  // one key tile: only the product after the loop
            (false, "float16", Wgp(1, 30, 65, 1, 1, 256, causal: true)),
            (false, "bfloat16", Wgp(1, 45, 70, 1, 1, 192, causal: false)),
            (false, "float16", Wgp(1, 70, 90, 2, 1, 64, causal: false) with { DropoutP = 0.2f, DropoutSeed = 7, DropoutOffset = 3 }),
            (false, "float16", Wgp(1, 130, 203, 2, 1, 64, causal: false, warps: 8) with
                { Window = new(40, 20), AlibiSlopes = [0.25f, 0.0625f], Softcap = 5f }),
            (false, "bfloat16", Wgp(2, 61, 138, 2, 1, 64, causal: false) with { BiasDims = [1, 2], MaskDims = [1, 1], BiasNegativeInfinity = true }),
            (true, "float16", Wgp(1, 70, 200, 1, 1, 64, causal: false) with { MaskDims = [1, 1], MaskMostlyKept = true }), // packed to bits, the words staged
            (true, "float16", Wgp(1, 270, 270, 1, 1, 64, causal: false, warps: 8) with { MaskDims = [1, 1], MaskDocuments = true }), // its derived blocks skip tiles
            (true, "float16", Wgp(1, 140, 330, 2, 1, 64, causal: false, warps: 8) with { BiasDims = [1, 1], BlockDims = [1, 1] }), // a block mask skips tiles
            (true, "float16", Wgp(2, 70, 132, 2, 1, 64, causal: true) with { BiasDims = [1, 2], BiasNegativeInfinity = true, HalfBias = true }),
            (true, "float16", Wgp(2, 203, 132, 2, 1, 128, causal: true, warps: 12) with { BiasDims = [1, 2] }),
            (false, "float16", Wgp(1, 1, 1, 1, 1, 128, causal: false)),
            (false, "float16", Wgp(2, 203, 113, 2, 2, 128, causal: true)),
            (false, "float16", Wgp(2, 203, 400, 2, 1, 128, causal: false, warps: 8)),
            (false, "bfloat16", Wgp(1, 113, 203, 1, 1, 192, causal: false, warps: 8)),
            (false, "float16", Wgp(1, 70, 130, 1, 1, 256, causal: true)),
            (false, "bfloat16", Wgp(2, 203, 203, 2, 1, 128, causal: true, warps: 8) with { DropoutP = 0.1f, DropoutSeed = 11 }),
            (false, "float16", Wgp(1, 150, 300, 2, 1, 128, causal: false, warps: 8) with { MaskDims = [1, 1], MaskMostlyKept = true }),
            (false, "bfloat16", Wgp(2, 203, 132, 2, 1, 128, causal: false, warps: 8) with { BiasDims = [2, 2] }),
            (false, "float16", Wgp(2, 203, 300, 2, 1, 128, causal: true, warps: 12) with { BiasDims = [1, 2], BiasNegativeInfinity = true, HalfBias = true }),
            // seqlen_k a multiple of 8: the float16 bias staged through shared memory by cp.async (StagedHalfBiasScores).
            (true, "float16", Wgp(1, 70, 200, 2, 1, 64, causal: false, warps: 8) with { BiasDims = [1, 2], BiasNegativeInfinity = true, HalfBias = true }),
            (false, "float16", Wgp(2, 203, 264, 2, 1, 128, causal: true, warps: 12) with { BiasDims = [1, 2], HalfBias = true }),
            (false, "bfloat16", Wgp(1, 1, 136, 2, 1, 64, causal: false) with { BiasDims = [1, 2], HalfBias = true }),
            (false, "float16", Wgp(1, 400, 403, 2, 1, 128, causal: false, warps: 8) with { MaskDims = [1, 1], MaskDocuments = true }),
            // The device's default tile: on Hopper a bias alone at d 128 runs pipelined, a float16 one at d 64 bounded to two groups per SM.
            (false, "float16", Tc(2, 203, 300, 2, 1, 128, causal: true) with { TensorCoreTile = null, BiasDims = [1, 2] }),
            (false, "bfloat16", Tc(2, 203, 300, 2, 1, 128, causal: false) with { TensorCoreTile = null, BiasDims = [2, 2], HalfBias = true }),
            (false, "float16", Tc(2, 203, 300, 2, 1, 64, causal: false) with { TensorCoreTile = null, BiasDims = [1, 2], HalfBias = true, BiasNegativeInfinity = true }),
            (false, "float16", Tc(2, 203, 264, 2, 1, 64, causal: false) with { TensorCoreTile = null, BiasDims = [1, 2], HalfBias = true, BiasNegativeInfinity = true }),
            (false, "bfloat16", Tc(2, 203, 264, 2, 1, 128, causal: true) with { TensorCoreTile = null, BiasDims = [1, 2], HalfBias = true }),
        };
        return OnThisDevice(rows);
    }

    private static ForwardCase Wgp(int b, int sq, int sk, int hq, int hkv, int d, bool causal, int warps = 4) =>
        Tc(b, sq, sk, hq, hkv, d, causal, warps, wgmma: true) with
        {
            TensorCoreTile = new TensorCoreTile(warps, GroupsPerSM: warps == 12 ? 1 : 0, Wgmma: true, Pipelined: true),
        };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Matches_reference(string dtype, ForwardCase c) => ElementTypes.Run(dtype, c, TestDevice.TensorCoreEngine);

    [Fact]
    public void Needs_wgmma()
    {
        var act = () => new TensorCoreTile(4, Pipelined: true).Validate(128, 232448, "options");
        act.Should().Throw<ArgumentException>().WithParameterName("options").WithMessage("*Pipelined needs Wgmma*");
    }
}
