using FlashAttention.Kernels.Portable;
using FlashAttention.Tests.Support;

namespace FlashAttention.Tests;

/// <summary>
/// Sliding window, ALiBi and logit soft-capping in both portable forward kernels (v3 and v4)
/// against the float64 reference, at odd shapes, outputs poisoned with NaN. Small on purpose: one
/// batch item and one or two heads, so the whole class stays within a few seconds on the CPU.
/// </summary>
public class ScoreVariantForwardTests
{
    private static readonly float[] TwoSlopes = [0.25f, 0.0625f];

    /// <summary>One row per feature or combination; each runs on v3 and on v4.</summary>
    public static TheoryData<string, ForwardCase> Cases()
    {
        var rows = new (string DType, ForwardCase Case)[]
        {
            // Window alone, seqlen_q < seqlen_k, padded head dim 40.
            ("float16", new(1, 113, 203, 2, 1, 40, Causal: false, Window: new(16, 8))),
            // Window with causal, seqlen_q > seqlen_k: the first 90 rows see no key (0 and -inf).
            ("float32", new(1, 203, 113, 1, 1, 72, Causal: true, Window: new(32, AttentionWindow.Unbounded))),
            // A window that leaves rows with no key without causal: off = -90, rows i < 88 see nothing.
            ("float32", new(1, 203, 113, 1, 1, 64, Causal: false, Window: new(4, 2))),
            // Only the diagonal key, bfloat16.
            ("bfloat16", new(1, 113, 203, 2, 2, 32, Causal: false, Window: new(0, 0))),
            // One query, only the left side bounded: it sees the last 9 keys.
            ("float16", new(1, 1, 203, 2, 1, 64, Causal: false, Window: new(8, AttentionWindow.Unbounded))),
            // ALiBi alone, GQA, slopes [heads_q].
            ("float32", new(1, 113, 203, 2, 1, 40, Causal: false, AlibiSlopes: TwoSlopes)),
            // ALiBi with causal, seqlen_q > seqlen_k.
            ("float16", new(1, 203, 113, 2, 2, 64, Causal: true, AlibiSlopes: TwoSlopes)),
            // ALiBi slopes [batch, heads_q] with two batch items.
            ("float32", new(2, 37, 45, 2, 1, 32, Causal: false, AlibiSlopes: [0.5f, 0.125f, 0.03125f, 1f])),
            // Soft cap with a custom scale large enough to push scores into tanh's flat part.
            ("float32", new(1, 77, 130, 2, 2, 64, Causal: false, Scale: 0.9f, Softcap: 5f)),
            ("bfloat16", new(1, 113, 113, 1, 1, 72, Causal: true, Scale: 0.5f, Softcap: 2f)),
            // Everything at once.
            ("float16", new(1, 113, 203, 2, 1, 40, Causal: true, Scale: 0.3f, Window: new(24, 0), AlibiSlopes: TwoSlopes, Softcap: 4f)),
            // seqlen 1 against 1.
            ("float32", new(1, 1, 1, 1, 1, 32, Causal: true, Window: new(0, 0), AlibiSlopes: [0.5f], Softcap: 3f)),
        };
        return PortableVariants.OnBoth(rows);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Matches_reference(string dtype, ForwardCase c) => ElementTypes.Run(dtype, c, TestDevice.Engine);

    /// <summary>
    /// Small tiles: many key tiles skipped on both sides of the window, and partial ones cut by it.
    /// With off = 53 and left = 22 each block's first visible key (firstRow + 31) is the last key of
    /// a 16-key tile, so starting the key loop one tile late would lose it.
    /// </summary>
    [Theory]
    [InlineData(ForwardVariant.V3)]
    [InlineData(ForwardVariant.V4)]
    public void Window_with_small_tiles(ForwardVariant variant) =>
        ElementTypes.Run("float32", new ForwardCase(1, 150, 203, 1, 1, 32, Causal: false, Window: new(22, 5),
            Tile: new TileConfig(16, 16, TileConfig.ForwardThreads(16, 32), variant), AlibiSlopes: [0.1f], Softcap: 6f), TestDevice.Engine);
}
