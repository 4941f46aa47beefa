namespace FlashAttention.Tests.Support;

/// <summary>
/// The score variants (sliding window, soft cap, ALiBi) as the naive low-precision baselines apply
/// them: in float32, rounded to the element type after each step, as PyTorch does in the input
/// dtype (scores / softcap, tanh, * softcap, + bias).
/// </summary>
public sealed class NaiveLogits(AttentionOptions? options, int headsQ)
{
    private readonly int left = options?.Window?.Left ?? -1;
    private readonly int right = options?.Window?.Right ?? -1;
    private readonly float softcap = options?.Softcap ?? 0f;
    private readonly float[]? slopes = options?.AlibiSlopes;
    private readonly int slopeBatchStride = options?.AlibiSlopes is { } s && s.Length != headsQ ? headsQ : 0;
    private readonly AttentionBias? bias = options?.Bias ?? options?.HalfBias?.ToSingle();
    private readonly AttentionBooleanMask? mask = options?.Mask;
    private readonly AttentionBlockMask? blocks = options?.BlockMask;
    private readonly float dropoutP = options?.DropoutP ?? 0f;
    private readonly Kernels.Portable.Dropout dropout = Kernels.Portable.Dropout.Create(
        options?.DropoutP ?? 0f, options?.DropoutSeed ?? 0, options?.DropoutOffset ?? 0, headsQ);

    /// <summary>
    /// Z / (1 - p) of (b, h, i, j), rounded to <typeparamref name="T"/> as torch's dropout multiplies in the
    /// input dtype; 1 without dropout. Z is the kernels' Philox draw (it defines the mask).
    /// </summary>
    public float DropFactor<T>(int b, int h, int i, int j) where T : unmanaged =>
        dropoutP <= 0 ? 1f : dropout.ForHead(b, h).Keeps(i, j) ? R<T>(1f / (1f - dropoutP)) : 0f;

    /// <summary>Whether query i sees key j (the causal mask and the window).</summary>
    public bool Visible(int i, int j, int nq, int nk, bool causal)
    {
        int diagonal = i + nk - nq;
        return !(causal && j > diagonal) && !(left >= 0 && j < diagonal - left) && !(right >= 0 && j > diagonal + right);
    }

    /// <summary>The logit from a scaled score already rounded to <typeparamref name="T"/>.</summary>
    public float Logit<T>(float s, int b, int h, int i, int j, int nq, int nk) where T : unmanaged
    {
        if (softcap > 0)
            s = R<T>(softcap * R<T>(MathF.Tanh(R<T>(s / softcap))));
        if (slopes is not null)
            s = R<T>(s - slopes[b * slopeBatchStride + h] * Math.Abs(i + nk - nq - j));
        // The bias tensor, then the boolean mask and the block mask (-inf where false), as torch adds attn_mask.
        if (blocks is { } bm && !bm.Visible(b, h, i, j))
            return float.NegativeInfinity;
        if (mask is { } m && !m.Data[(((long)(m.Batch == 1 ? 0 : b) * m.Heads + (m.Heads == 1 ? 0 : h)) * nq + i) * nk + j])
            return float.NegativeInfinity;
        if (bias is { } a)
            s = R<T>(s + a.Data[(((long)(a.Batch == 1 ? 0 : b) * a.Heads + (a.Heads == 1 ? 0 : h)) * nq + i) * nk + j]);
        return s;
    }

    /// <summary>d logit / d score (1 - tanh², rounded) for a scaled score rounded to <typeparamref name="T"/>.</summary>
    public float Slope<T>(float s) where T : unmanaged
    {
        if (softcap <= 0)
            return 1f;
        float t = R<T>(MathF.Tanh(R<T>(s / softcap)));
        return R<T>(1f - R<T>(t * t));
    }

    private static float R<T>(float x) where T : unmanaged => Elements.ToSingle(Elements.FromSingle<T>(x));
}
