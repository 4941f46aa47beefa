namespace FlashAttention;

/// <summary>The gradients of a host-side backward call, each contiguous [batch, seqlen, heads, headdim] in the input's element type.</summary>
/// <param name="DQ">Gradient with respect to q: q's shape.</param>
/// <param name="DK">Gradient with respect to k: k's shape (summed over the query heads sharing each key head).</param>
/// <param name="DV">Gradient with respect to v: v's shape (likewise summed).</param>
public sealed record AttentionGradients<T>(HostTensor<T> DQ, HostTensor<T> DK, HostTensor<T> DV) where T : unmanaged;
