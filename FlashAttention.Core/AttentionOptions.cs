namespace FlashAttention;

/// <summary>What one attention call computes, besides its tensors.</summary>
public sealed record AttentionOptions
{
    /// <summary>The default options: scale 1/sqrt(headdim), not causal, no LSE, automatic tile.</summary>
    public static AttentionOptions Default { get; } = new();

    /// <summary>Softmax scale applied to Q K^T; null means 1/sqrt(headdim).</summary>
    public float? Scale { get; init; }

    /// <summary>
    /// Causal attention. When seqlen_q != seqlen_k the mask is aligned to the bottom-right corner, as
    /// in FlashAttention-2: query i sees keys j &lt;= i + seqlen_k - seqlen_q. So with seqlen_q &gt;
    /// seqlen_k the first seqlen_q - seqlen_k queries see no key; their output is 0 and their LSE -inf.
    /// </summary>
    public bool Causal { get; init; }

    /// <summary>Also return the log-sum-exp of each query row's scaled scores: float32 [batch, heads_q, seqlen_q].</summary>
    public bool ReturnLse { get; init; }

    /// <summary>Which forward kernel runs: by default the tensor-core one where the device and element type allow it.</summary>
    public KernelPath Kernel { get; init; }

    /// <summary>Portable forward tile shape; null chooses one from the device's shared-memory limit and the head dim.</summary>
    public TileConfig? Tile { get; init; }

    /// <summary>Tensor-core forward tile shape; null chooses one from the device's shared-memory limit and the head dim.</summary>
    public TensorCoreTile? TensorCoreTile { get; init; }

    /// <summary>Backward tile shape; null chooses one from the device's shared-memory limit and the head dim.</summary>
    public TileConfig? BackwardTile { get; init; }

    /// <summary>The scale used for <paramref name="headDim"/>.</summary>
    public float ScaleFor(int headDim) => Scale ?? 1f / MathF.Sqrt(headDim);
}
