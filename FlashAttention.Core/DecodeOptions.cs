namespace FlashAttention;

/// <summary>What one decode call (<see cref="AttentionEngine.Decode{T}(HostTensor{T}, KvCache{T}, DecodeOptions?, HostTensor{T}?, HostTensor{T}?)"/>) computes besides its tensors.</summary>
public sealed record DecodeOptions
{
    /// <summary>Scale 1/sqrt(headdim), not causal, no LSE, automatic splits.</summary>
    public static DecodeOptions Default { get; } = new();

    /// <summary>Softmax scale applied to Q K^T; null means 1/sqrt(headdim).</summary>
    public float? Scale { get; init; }

    /// <summary>
    /// Causal attention aligned to the bottom-right corner of each item's visible keys (as
    /// FlashAttention-2's flash_attn_with_kvcache): with n = cache_seqlens[b] + seqlen_new keys and
    /// seqlen_q queries, query i sees keys j &lt;= i + n - seqlen_q. With seqlen_q = 1 it changes nothing.
    /// </summary>
    public bool Causal { get; init; }

    /// <summary>Also return the log-sum-exp of each query row (float32 [batch, heads_q, seqlen_q]; -inf for a row that sees no key).</summary>
    public bool ReturnLse { get; init; }

    /// <summary>
    /// Chunks the key axis is split into (flash-decoding): each chunk is processed by its own groups,
    /// which write a partial output and LSE, then merged. 0 (default) chooses from the device's
    /// multiprocessor count and the number of (batch, kv head) groups; 1 turns splitting off; more than
    /// the longest item's key tiles is reduced to one split per tile. At most 256.
    /// </summary>
    public int NumSplits { get; init; }

    /// <summary>Which decode kernel runs the call (<see cref="DecodePath.Auto"/>: the streaming one where it applies).</summary>
    public DecodePath Path { get; init; }

    /// <summary>The scale used for <paramref name="headDim"/>.</summary>
    public float ScaleFor(int headDim) => Scale ?? 1f / MathF.Sqrt(headDim);
}
