namespace FlashAttention;

/// <summary>
/// An additive float32 bias on the attention logits, contiguous [<see cref="Batch"/>, <see cref="Heads"/>,
/// <see cref="SeqLenQ"/>, <see cref="SeqLenK"/>] (row-major), where Batch is 1 or the call's batch
/// and Heads is 1 or heads_q: a size of 1 broadcasts, as torch's attn_mask does. Element (b, h, i, j)
/// is added to the logit of query i and key j after the scale, the soft cap and the ALiBi bias,
/// i.e. logit = softcap(q·k * scale) - alibi + bias (torch SDPA: q kᵀ * scale + attn_mask). -inf is
/// allowed and hides the element, as in torch; NaN is rejected. Both forward kernels read it.
/// </summary>
/// <param name="Data">The values, length Batch * Heads * SeqLenQ * SeqLenK.</param>
/// <param name="Batch">1 (shared by every batch item) or the call's batch.</param>
/// <param name="Heads">1 (shared by every head) or heads_q.</param>
/// <param name="SeqLenQ">The call's seqlen_q.</param>
/// <param name="SeqLenK">The call's seqlen_k.</param>
public sealed record AttentionBias(float[] Data, int Batch, int Heads, int SeqLenQ, int SeqLenK)
{
    /// <summary>A bias shared by every batch item and head: [1, 1, seqlen_q, seqlen_k].</summary>
    public static AttentionBias Shared(float[] data, int seqLenQ, int seqLenK) => new(data, 1, 1, seqLenQ, seqLenK);
}

/// <summary>
/// A boolean mask on the attention logits with the shape rules of <see cref="AttentionBias"/>:
/// true keeps the pair (query i, key j), false hides it, as torch SDPA's boolean attn_mask. It
/// intersects with the causal mask and the window. A row whose keys are all hidden gives output 0
/// and LSE -inf (torch gives NaN there). Both forward kernels read it.
/// </summary>
/// <param name="Data">The flags, length Batch * Heads * SeqLenQ * SeqLenK.</param>
/// <param name="Batch">1 (shared by every batch item) or the call's batch.</param>
/// <param name="Heads">1 (shared by every head) or heads_q.</param>
/// <param name="SeqLenQ">The call's seqlen_q.</param>
/// <param name="SeqLenK">The call's seqlen_k.</param>
public sealed record AttentionBooleanMask(bool[] Data, int Batch, int Heads, int SeqLenQ, int SeqLenK)
{
    /// <summary>A mask shared by every batch item and head: [1, 1, seqlen_q, seqlen_k].</summary>
    public static AttentionBooleanMask Shared(bool[] data, int seqLenQ, int seqLenK) => new(data, 1, 1, seqLenQ, seqLenK);
}

/// <summary>
/// <see cref="AttentionBias"/> already on the device (<see cref="AttentionOptions.DeviceBias"/>): the same
/// shape rules and semantics, read in place by the kernels with no copy. The engine checks its shape and
/// length but does not read it, so NaN is not refused here (it would propagate to the output rows it
/// reaches); the view must stay valid until the launches that use it finish.
/// </summary>
/// <param name="Data">float32 [Batch, Heads, SeqLenQ, SeqLenK] contiguous, on the engine's accelerator.</param>
/// <param name="Batch">1 (shared by every batch item) or the call's batch.</param>
/// <param name="Heads">1 (shared by every head) or heads_q.</param>
/// <param name="SeqLenQ">The call's seqlen_q.</param>
/// <param name="SeqLenK">The call's seqlen_k.</param>
public sealed record DeviceAttentionBias(ArrayView<float> Data, int Batch, int Heads, int SeqLenQ, int SeqLenK);

/// <summary>
/// <see cref="AttentionBooleanMask"/> already on the device (<see cref="AttentionOptions.DeviceMask"/>): one
/// byte per pair, nonzero = keep (a .NET or NumPy bool array's bytes), read in place with no copy.
/// </summary>
/// <param name="Data">byte [Batch, Heads, SeqLenQ, SeqLenK] contiguous, on the engine's accelerator.</param>
/// <param name="Batch">1 (shared by every batch item) or the call's batch.</param>
/// <param name="Heads">1 (shared by every head) or heads_q.</param>
/// <param name="SeqLenQ">The call's seqlen_q.</param>
/// <param name="SeqLenK">The call's seqlen_k.</param>
public sealed record DeviceAttentionMask(ArrayView<byte> Data, int Batch, int Heads, int SeqLenQ, int SeqLenK);

/// <summary>The shape of a bias or mask tensor, from its host or device form.</summary>
internal readonly record struct LogitTensorShape(int Batch, int Heads, int SeqLenQ, int SeqLenK, long Length)
{
    public static LogitTensorShape? BiasOf(AttentionOptions o) =>
        o.Bias is { } b ? new(b.Batch, b.Heads, b.SeqLenQ, b.SeqLenK, b.Data?.LongLength ?? 0)
        : o.DeviceBias is { } d ? new(d.Batch, d.Heads, d.SeqLenQ, d.SeqLenK, d.Data.Length)
        : null;

    public static LogitTensorShape? MaskOf(AttentionOptions o) =>
        o.Mask is { } m ? new(m.Batch, m.Heads, m.SeqLenQ, m.SeqLenK, m.Data?.LongLength ?? 0)
        : o.DeviceMask is { } d ? new(d.Batch, d.Heads, d.SeqLenQ, d.SeqLenK, d.Data.Length)
        : null;

    public string Text => $"[{Batch}, {Heads}, {SeqLenQ}, {SeqLenK}]";
}
