namespace FlashAttention;

/// <summary>Which decode kernel runs a <see cref="AttentionEngine"/> decode call.</summary>
public enum DecodePath
{
    /// <summary>The streaming kernel wherever it applies, the tiled kernel everywhere else.</summary>
    Auto,

    /// <summary>
    /// The streaming kernel: keys and values go straight from memory to registers, each team of lanes
    /// with its own online softmax, no barrier in the key loop. It needs Half or BFloat16, head dim 32,
    /// 64, 128 or 256, at most 8 query rows per kv head (heads_q / heads_kv * seqlen_q), cache rows on
    /// 16-byte boundaries, and a CUDA or CPU accelerator; a call that lacks one is refused
    /// (<see cref="ArgumentException"/>) before anything is launched.
    /// </summary>
    Streaming,

    /// <summary>The tiled kernel (keys and values staged in shared memory): every backend, element type and shape.</summary>
    Tiled,
}
