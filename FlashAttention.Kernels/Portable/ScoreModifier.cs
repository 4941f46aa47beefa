using ILGPU.Algorithms;

namespace FlashAttention.Kernels.Portable;

/// <summary>
/// What happens to a visible score before the softmax, after the scale: logit soft-capping, then
/// the ALiBi bias (FlashAttention-2's order: softcap(s * scale) - slope * |i + off - j|), then the
/// bias and mask tensors (<see cref="Elements"/>, a <see cref="ScoreBias"/>). The kernels
/// keep scores multiplied by log2(e) so they can use exp2; both steps commute with that factor:
/// log2(e) * c * tanh(x / c) = C * tanh(y / C) with y = x log2(e) and C = c log2(e), and the bias
/// scales with it. So the modifier works on log2-domain scores throughout. One instance per launch
/// (<see cref="ForwardParams{T}.Scores"/>, <see cref="BackwardParams{T}.Scores"/>), specialised to
/// a head with <see cref="ForHead"/>; both forward variants and the backward call it, so the three
/// kernels cannot disagree on what a score is.
/// </summary>
public struct ScoreModifier
{
    private const float Log2E = 1.4426950408889634f;

    /// <summary>softcap * log2(e); 0 when soft-capping is off.</summary>
    public float SoftcapLog2;

    /// <summary>2 / softcap: exp(-2 |x / c|) = exp2(-|y| * 2 / c) for the log2-domain score y.</summary>
    public float SoftcapDecay;

    /// <summary>1 when <see cref="AlibiSlopes"/> holds the slopes; 0 when ALiBi is off (the view is then never read).</summary>
    public int HasAlibi;

    /// <summary>ALiBi slopes, float32 [heads_q] or [batch, heads_q].</summary>
    public ArrayView<float> AlibiSlopes;

    /// <summary>Elements between batch items of <see cref="AlibiSlopes"/>: 0 for [heads_q], heads_q for [batch, heads_q].</summary>
    public int AlibiBatchStride;

    /// <summary>seqlen_k - seqlen_q: the ALiBi distance is measured from the bottom-right aligned diagonal.</summary>
    public int DiagonalOffset;

    /// <summary>The current head's slope times log2(e); set by <see cref="ForHead"/>.</summary>
    public float SlopeLog2;

    /// <summary>The additive bias and boolean mask tensors (<see cref="ScoreBias"/>), applied last.</summary>
    public ScoreBias Elements;

    /// <summary>Makes the modifier of one launch.</summary>
    /// <param name="seqLenQ">Query sequence length.</param>
    /// <param name="seqLenK">Key sequence length.</param>
    /// <param name="softcap">Soft cap c (&gt; 0), or 0 for none.</param>
    /// <param name="alibiSlopes">The slopes when <paramref name="alibi"/>; any valid view otherwise.</param>
    /// <param name="alibi">Whether ALiBi is on.</param>
    /// <param name="alibiBatchStride">0 for slopes [heads_q], heads_q for [batch, heads_q].</param>
    /// <param name="elements">The bias and mask tensors (flags 0 when absent, views still real).</param>
    public ScoreModifier(int seqLenQ, int seqLenK, float softcap, ArrayView<float> alibiSlopes, bool alibi, int alibiBatchStride,
        ScoreBias elements)
    {
        Elements = elements;
        SoftcapLog2 = softcap > 0f ? softcap * Log2E : 0f;
        SoftcapDecay = softcap > 0f ? 2f / softcap : 0f;
        HasAlibi = alibi ? 1 : 0;
        AlibiSlopes = alibiSlopes;
        AlibiBatchStride = alibiBatchStride;
        DiagonalOffset = seqLenK - seqLenQ;
        SlopeLog2 = 0f;
    }

    /// <summary>Whether any score is changed (when not, kernels may skip writing scores back).</summary>
    public readonly bool IsActive => SoftcapLog2 != 0f || HasAlibi != 0 || Elements.IsActive;

    /// <summary>This modifier with the ALiBi slope of (<paramref name="batch"/>, <paramref name="head"/>) loaded.</summary>
    public readonly ScoreModifier ForHead(int batch, int head)
    {
        var m = this;
        m.SlopeLog2 = HasAlibi != 0 ? AlibiSlopes[batch * AlibiBatchStride + head] * Log2E : 0f;
        m.Elements = Elements.ForHead(batch, head);
        return m;
    }

    /// <summary>The logit (log2 domain) of query <paramref name="i"/> and key <paramref name="j"/> from its scaled score <paramref name="y"/>.</summary>
    public readonly float Apply(float y, int i, int j) => LogitAndSlope(y, i, j).Logit;

    /// <summary>
    /// The logit, and its derivative with respect to the scaled score (1 - tanh² with soft-capping,
    /// else 1) for the backward's dS. The bias does not depend on the score, so it adds nothing there.
    /// </summary>
    public readonly (float Logit, float Slope) LogitAndSlope(float y, int i, int j)
    {
        var (logit, slope) = Pointwise(y, i, j);
        // The bias tensor adds after softcap and ALiBi (torch SDPA adds its float attn_mask to the
        // scaled score); a masked element becomes -inf, which the kernels already treat as hidden.
        if (Elements.IsActive)
            logit = Elements.Apply(logit, i, j);
        return (logit, slope);
    }

    /// <summary>Whether soft-capping or ALiBi is on (the parts that need no tensor).</summary>
    public readonly bool HasPointwise => SoftcapLog2 != 0f || HasAlibi != 0;

    /// <summary>
    /// The logit from soft-capping and ALiBi only, without the bias and mask tensors: for the
    /// tensor-core kernel, which the engine never gives those, so their lookup code stays out of it.
    /// </summary>
    public readonly float ApplyPointwise(float y, int i, int j) => Pointwise(y, i, j).Logit;

    private readonly (float Logit, float Slope) Pointwise(float y, int i, int j)
    {
        float logit = y;
        float slope = 1f;
        if (SoftcapLog2 != 0f)
        {
            // tanh(u) = sign(u) (1 - e) / (1 + e) with e = exp(-2|u|): one exp2, saturates to ±1
            // for large |u| without inf / inf, and 1 - tanh² = 4e / (1 + e)² keeps its precision
            // where tanh is close to 1. Not XMath.Tanh: it lowers to tanh.approx.f32 on CUDA
            // (relative error 2^-11), too coarse for a float32 score.
            float e = XMath.Exp2(-XMath.Abs(y) * SoftcapDecay);
            float r = 1f / (1f + e);
            float t = (1f - e) * r;
            logit = y < 0f ? -SoftcapLog2 * t : SoftcapLog2 * t;
            slope = 4f * e * r * r;
        }
        if (HasAlibi != 0)
            logit -= SlopeLog2 * Math.Abs(i + DiagonalOffset - j);
        return (logit, slope);
    }
}
