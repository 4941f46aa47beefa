namespace FlashAttention.Bench;

/// <summary>The arguments of <c>verify</c>.</summary>
/// <param name="Q">Path of q.npy: [batch, seqlen_q, heads_q, headdim].</param>
/// <param name="K">Path of k.npy: [batch, seqlen_k, heads_kv, headdim], heads_q a multiple of heads_kv.</param>
/// <param name="V">Path of v.npy: same shape as k.</param>
/// <param name="Out">Directory that receives o.npy and lse.npy; created if absent.</param>
public sealed record VerifyArgs(string Q, string K, string V, string Out)
{
    /// <summary>Path of the output gradient, for the backward pass (not implemented yet).</summary>
    public string? Do { get; init; }

    /// <summary>Bottom-right aligned causal mask.</summary>
    public bool Causal { get; init; }

    /// <summary>Softmax scale; null for 1/sqrt(headdim).</summary>
    public float? Scale { get; init; }

    /// <summary>Sliding window (left, right) as FlashAttention-2's window_size; -1 leaves a side unbounded; null for none.</summary>
    public AttentionWindow? Window { get; init; }

    /// <summary>Logit soft cap (softcap * tanh(s / softcap)); null or 0 for none.</summary>
    public float? Softcap { get; init; }

    /// <summary>Path of the ALiBi slopes: float32 [heads_q] or [batch, heads_q]; null for none.</summary>
    public string? Alibi { get; init; }

    /// <summary>Path of an additive bias: float32 [batch | 1, heads_q | 1, seqlen_q, seqlen_k]; null for none.</summary>
    public string? Bias { get; init; }

    /// <summary>Path of a boolean keep-mask: bool [batch | 1, heads_q | 1, seqlen_q, seqlen_k] (true = visible); null for none.</summary>
    public string? Mask { get; init; }

    /// <summary>Dropout probability on P in [0, 1) (FlashAttention-2's dropout_p); null or 0 for none.</summary>
    public float? Dropout { get; init; }

    /// <summary>The dropout mask's Philox seed (with <see cref="Dropout"/>).</summary>
    public ulong Seed { get; init; }

    /// <summary>The dropout mask's Philox counter offset (with <see cref="Dropout"/>).</summary>
    public ulong Offset { get; init; }

    /// <summary>
    /// Path of cu_seqlens_q (int32 [batch + 1]) for a variable-length batch: q, k, v (and dO) are then
    /// packed [total_tokens, heads, headdim]; set together with <see cref="CuSeqLensK"/>.
    /// </summary>
    public string? CuSeqLensQ { get; init; }

    /// <summary>Path of cu_seqlens_k (int32 [batch + 1]); set together with <see cref="CuSeqLensQ"/>.</summary>
    public string? CuSeqLensK { get; init; }

    /// <summary>Whether the call is variable-length (both offset files given).</summary>
    public bool VarLen => CuSeqLensQ is not null || CuSeqLensK is not null;

    /// <summary>Accelerator to run on.</summary>
    public AcceleratorChoice Device { get; init; } = AcceleratorChoice.Auto;

    /// <summary>The inputs are uint16 files holding bfloat16 bits.</summary>
    public bool BFloat16 { get; init; }
}
