namespace FlashAttention;

/// <summary>The outputs of a host-side attention call.</summary>
/// <param name="Output">O, contiguous [batch, seqlen_q, heads_q, headdim], in the input's element type.</param>
/// <param name="Lse">Log-sum-exp float32 [batch, heads_q, seqlen_q] when requested, else null.</param>
public sealed record AttentionResult<T>(HostTensor<T> Output, float[]? Lse) where T : unmanaged;
