namespace FlashAttention;

/// <summary>What one attention call computes, besides its tensors.</summary>
public sealed record AttentionOptions
{
    /// <summary>The default options: scale 1/sqrt(headdim), not causal, no window, ALiBi or soft-capping, no LSE, automatic tile.</summary>
    public static AttentionOptions Default { get; } = new();

    /// <summary>Softmax scale applied to Q K^T; null means 1/sqrt(headdim).</summary>
    public float? Scale { get; init; }

    /// <summary>
    /// Causal attention. When seqlen_q != seqlen_k the mask is aligned to the bottom-right corner, as
    /// in FlashAttention-2: query i sees keys j &lt;= i + seqlen_k - seqlen_q. So with seqlen_q &gt;
    /// seqlen_k the first seqlen_q - seqlen_k queries see no key; their output is 0 and their LSE -inf.
    /// </summary>
    public bool Causal { get; init; }

    /// <summary>
    /// Sliding-window (local) attention; null for none. Query i sees keys j with
    /// i + off - Left &lt;= j &lt;= i + off + Right, off = seqlen_k - seqlen_q (bottom-right aligned, as
    /// FlashAttention-2's <c>window_size</c>); -1 leaves a side unbounded. With <see cref="Causal"/> the
    /// two masks intersect (right side 0, as FlashAttention-2 does). Key tiles outside the window are
    /// skipped, so the time grows with the window, not with seqlen_k. Rows that see no key (possible
    /// when seqlen_q &gt; seqlen_k) give output 0 and LSE -inf. Runs on the portable kernel.
    /// </summary>
    public AttentionWindow? Window { get; init; }

    /// <summary>
    /// ALiBi slopes, float32 [heads_q] or [batch, heads_q] (row-major); null for none. As in
    /// FlashAttention-2, the bias -slope * |i + seqlen_k - seqlen_q - j| is added to the score of query
    /// i and key j after the scale and after <see cref="Softcap"/> (the bias itself is not capped).
    /// With <see cref="Causal"/> the same formula applies; FlashAttention-2's causal kernel adds
    /// slope * j instead, which differs by slope * (i + seqlen_k - seqlen_q) per row: the same output
    /// and gradients, an LSE larger by that amount there. Runs on the portable kernel.
    /// </summary>
    public float[]? AlibiSlopes { get; init; }

    /// <summary>
    /// Logit soft-capping: each scaled score s = q·k * scale becomes Softcap * tanh(s / Softcap)
    /// before the ALiBi bias and the mask, as FlashAttention-2's <c>softcap</c> (Gemma 2, Grok).
    /// 0 (the default) turns it off; otherwise a finite number &gt; 0. The backward includes the
    /// derivative 1 - tanh². Runs on the portable kernel.
    /// </summary>
    public float Softcap { get; init; }

    /// <summary>
    /// An additive float32 bias [batch | 1, heads_q | 1, seqlen_q, seqlen_k] on the logits (after scale,
    /// soft cap and ALiBi, like torch SDPA's float attn_mask); null for none. Runs on the portable kernel
    /// (KernelPath.Auto picks it; KernelPath.TensorCore or a TensorCoreTile with this set throws).
    /// </summary>
    public AttentionBias? Bias { get; init; }

    /// <summary>
    /// A boolean keep-mask [batch | 1, heads_q | 1, seqlen_q, seqlen_k] (true = visible, like torch SDPA's
    /// boolean attn_mask), intersected with causal and window; null for none. Runs on the portable kernel
    /// (KernelPath.Auto picks it; KernelPath.TensorCore or a TensorCoreTile with this set throws).
    /// </summary>
    public AttentionBooleanMask? Mask { get; init; }

    /// <summary>
    /// A block-sparse mask (<see cref="AttentionBlockMask"/>): the tiles of hidden blocks are skipped,
    /// not computed, in both forward kernels and the backward; null for none.
    /// </summary>
    public AttentionBlockMask? BlockMask { get; init; }

    /// <summary>
    /// <see cref="Bias"/> in device memory (no upload per call; not checked for NaN); at most one of the two.
    /// Read by both forward kernels, like <see cref="Bias"/>.
    /// </summary>
    public DeviceAttentionBias? DeviceBias { get; init; }

    /// <summary>
    /// A float16 bias (<see cref="AttentionHalfBias"/>): <see cref="Bias"/> at half the bytes, read as it is by the
    /// tensor-core forward when it is the call's only score variant; at most one of <see cref="Bias"/>,
    /// <see cref="DeviceBias"/>, this and <see cref="DeviceHalfBias"/>.
    /// </summary>
    public AttentionHalfBias? HalfBias { get; init; }

    /// <summary>
    /// <see cref="HalfBias"/> in device memory (no upload per call; not checked for NaN). Fastest on Hopper when the view
    /// starts on 16 bytes and seqlen_k is a multiple of 8: the wgmma kernels then stage it through shared memory.
    /// </summary>
    public DeviceAttentionHalfBias? DeviceHalfBias { get; init; }

    /// <summary><see cref="Mask"/> in device memory (bytes, nonzero = keep); at most one of the two.</summary>
    public DeviceAttentionMask? DeviceMask { get; init; }

    /// <summary>
    /// With a <see cref="Bias"/> (or <see cref="DeviceBias"/>), the host backward that returns <see cref="AttentionGradients{T}"/> also
    /// returns dBias there (the loss's gradient with respect to the bias, dS = P (dP - D) summed over the
    /// bias's broadcast dims), float32 of the bias's shape. The other backward overloads take a dBias
    /// array or view instead and ignore this flag. Setting it without a bias is refused.
    /// </summary>
    public bool ReturnBiasGradient { get; init; }

    /// <summary>
    /// Dropout probability on the attention probabilities, as FlashAttention-2's <c>dropout_p</c>:
    /// O = (P * Z / (1 - p)) V with Z ~ Bernoulli(1 - p) per (batch, head, query, key), drawn by
    /// Philox-4x32-10 from <see cref="DropoutSeed"/> and <see cref="DropoutOffset"/> (so the backward,
    /// given the same three values, uses the same Z). The LSE is that of the undropped scores.
    /// 0 (the default) turns it off; otherwise in [0, 1). Both forward kernels apply it (the tensor-core
    /// one through a kernel variant compiled only for dropout); the backward is portable.
    /// </summary>
    public float DropoutP { get; init; }

    /// <summary>The Philox key of the dropout mask (FlashAttention-2's seed).</summary>
    public ulong DropoutSeed { get; init; }

    /// <summary>
    /// The Philox counter offset of the dropout mask (FlashAttention-2's offset): head (b, h) draws from
    /// stream offset + b * heads_q + h, so calls that need independent masks advance it by batch * heads_q.
    /// </summary>
    public ulong DropoutOffset { get; init; }

    /// <summary>Also return the log-sum-exp of each query row's scaled scores: float32 [batch, heads_q, seqlen_q].</summary>
    public bool ReturnLse { get; init; }

    /// <summary>
    /// Which forward kernel runs: by default the tensor-core one where the device and element type allow it.
    /// </summary>
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
