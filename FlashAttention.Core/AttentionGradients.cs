namespace FlashAttention;

/// <summary>The gradients of a host-side backward call, each contiguous [batch, seqlen, heads, headdim] in the input's element type.</summary>
/// <param name="DQ">Gradient with respect to q: q's shape.</param>
/// <param name="DK">Gradient with respect to k: k's shape (summed over the query heads sharing each key head).</param>
/// <param name="DV">Gradient with respect to v: v's shape (likewise summed).</param>
public sealed record AttentionGradients<T>(HostTensor<T> DQ, HostTensor<T> DK, HostTensor<T> DV) where T : unmanaged
{
    /// <summary>
    /// dBias, float32 of the bias's shape [batch | 1, heads_q | 1, seqlen_q, seqlen_k] (summed over its
    /// broadcast dims), when <see cref="AttentionOptions.ReturnBiasGradient"/> and a bias were given; else null.
    /// </summary>
    public float[]? DBias { get; init; }
}
