using FlashAttention.Kernels.Launch;
using FlashAttention.Tests.Support;
using static FlashAttention.Tests.TensorCoreForwardTests;

namespace FlashAttention.Tests;

/// <summary>
/// The tensor-core kernels with S seeded (<c>SeededScores</c>) and without, whatever FLASH_SEED_SCORES says, against the float64
/// reference: with <see cref="ScoreSeeding.All"/> a packed mask starts S's product at -inf where it hides a score
/// (<c>MaskWords.Seed</c>, mma.sync and wgmma) and a staged float16 bias at b / scale (wgmma, positive scales; a negative scale
/// keeps adding it after the product); with <see cref="ScoreSeeding.None"/> the same cases take the unseeded paths, which the
/// default (<see cref="ScoreSeeding.PackedMaskOnWgmma"/>, in <see cref="TensorCoreMaskBitsTests"/> and <see cref="WgmmaForwardTests"/>)
/// no longer takes for a packed mask on wgmma.
/// </summary>
public class SeededScoresTests
{
    private static readonly Lazy<AttentionEngine> Seeded =
        new(() => AttentionEngine.WithScoreSeeding(TestDevice.TensorCoreEngine.Accelerator, ScoreSeeding.All));

    private static readonly Lazy<AttentionEngine> Unseeded =
        new(() => AttentionEngine.WithScoreSeeding(TestDevice.TensorCoreEngine.Accelerator, ScoreSeeding.None));

    public static TheoryData<string, ForwardCase> Cases()
    {
        var rows = new (bool Cpu, string DType, ForwardCase Case)[]
        {
            // Packed masks on mma.sync: 32-row warps with 32-key tiles (a last word cut short), 16-row warps with a window.
            (true, "float16", Tc(2, 100, 139, 2, 1, 64, causal: true, rows: 32, bc: 32) with { MaskDims = [1, 2] }),
            (true, "bfloat16", Tc(2, 48, 130, 2, 2, 64, causal: false) with { MaskDims = [2, 2], Window = new(40, 20), MaskMostlyKept = true }),
            // On wgmma (staged words), odd lengths, and packed documents whose hidden blocks are skipped.
            (true, "float16", Tc(1, 113, 203, 2, 1, 64, causal: false, warps: 8, wgmma: true) with { MaskDims = [1, 1] }),
            (true, "bfloat16", Tc(1, 1, 203, 2, 1, 128, causal: true, warps: 4, wgmma: true) with { MaskDims = [1, 2] }),
            (false, "bfloat16", Tc(2, 270, 270, 2, 1, 128, causal: true, warps: 8, wgmma: true) with { MaskDims = [2, 1], MaskDocuments = true }),
            (false, "float16", Tc(2, 203, 203, 2, 1, 128, causal: false, rows: 32, bc: 64) with { MaskDims = [2, 1], MaskMostlyKept = true }),
            // A staged float16 bias (seqlen_k a multiple of 8) with -inf entries; a negative scale, which is not seeded.
            (true, "float16", Tc(2, 70, 136, 2, 1, 64, causal: true, wgmma: true) with { BiasDims = [1, 2], BiasNegativeInfinity = true, HalfBias = true }),
            (true, "bfloat16", Tc(1, 113, 72, 2, 1, 64, causal: false, warps: 8, wgmma: true) with { BiasDims = [1, 1], HalfBias = true, Scale = -0.1f }),
            (false, "float16", Tc(1, 203, 264, 2, 1, 128, causal: true, warps: 8, wgmma: true) with { BiasDims = [1, 2], HalfBias = true }),
            (false, "bfloat16", Tc(2, 203, 200, 2, 1, 64, causal: false, warps: 8, wgmma: true) with { BiasDims = [2, 2], HalfBias = true }),
        };
        return OnThisDevice(rows);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Matches_reference(string dtype, ForwardCase c) => ElementTypes.Run(dtype, c, Seeded.Value);

    [Theory]
    [MemberData(nameof(Cases))]
    public void Unseeded_matches_reference(string dtype, ForwardCase c) => ElementTypes.Run(dtype, c, Unseeded.Value);
}
