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
/// <see cref="AttentionBias"/> in float16, as torch SDPA takes a float attn_mask in the query's dtype: the same shape
/// rules and semantics, half the bytes on the device and read. The tensor-core forward reads it as it is when it is
/// the call's only score variant (no mask tensor, block mask, soft cap, ALiBi or dropout) and seqlen_k is even; every
/// other kernel, the backward included, reads it widened to float32 in a scratch the engine keeps. Values are whatever
/// float16 holds: a finite bias past ±65504 is already ±infinity in this form, and -infinity hides the pair.
/// </summary>
/// <param name="Data">The values, length Batch * Heads * SeqLenQ * SeqLenK.</param>
/// <param name="Batch">1 (shared by every batch item) or the call's batch.</param>
/// <param name="Heads">1 (shared by every head) or heads_q.</param>
/// <param name="SeqLenQ">The call's seqlen_q.</param>
/// <param name="SeqLenK">The call's seqlen_k.</param>
public sealed record AttentionHalfBias(Half[] Data, int Batch, int Heads, int SeqLenQ, int SeqLenK)
{
    /// <summary>A bias shared by every batch item and head: [1, 1, seqlen_q, seqlen_k].</summary>
    public static AttentionHalfBias Shared(Half[] data, int seqLenQ, int seqLenK) => new(data, 1, 1, seqLenQ, seqLenK);

    /// <summary>The same bias as float32 (exact: float32 holds every float16 value).</summary>
    public AttentionBias ToSingle()
    {
        var data = new float[Data.LongLength];
        for (long e = 0; e < data.LongLength; e++)
            data[e] = (float)Data[e];
        return new AttentionBias(data, Batch, Heads, SeqLenQ, SeqLenK);
    }

    /// <summary>A float32 bias rounded to float16 (to nearest even; past ±65504 to ±infinity).</summary>
    public static AttentionHalfBias From(AttentionBias bias)
    {
        ArgumentNullException.ThrowIfNull(bias);
        var data = new Half[bias.Data.LongLength];
        for (long e = 0; e < data.LongLength; e++)
            data[e] = (Half)bias.Data[e];
        return new AttentionHalfBias(data, bias.Batch, bias.Heads, bias.SeqLenQ, bias.SeqLenK);
    }
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
/// <see cref="AttentionHalfBias"/> already on the device (<see cref="AttentionOptions.DeviceHalfBias"/>), read in place
/// where the tensor-core forward reads a float16 bias (see there), and widened into the engine's scratch elsewhere.
/// Not checked for NaN; the view must stay valid until the launches that use it finish.
/// </summary>
/// <param name="Data">float16 [Batch, Heads, SeqLenQ, SeqLenK] contiguous, on the engine's accelerator.</param>
/// <param name="Batch">1 (shared by every batch item) or the call's batch.</param>
/// <param name="Heads">1 (shared by every head) or heads_q.</param>
/// <param name="SeqLenQ">The call's seqlen_q.</param>
/// <param name="SeqLenK">The call's seqlen_k.</param>
public sealed record DeviceAttentionHalfBias(ArrayView<Half> Data, int Batch, int Heads, int SeqLenQ, int SeqLenK);

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
    /// <summary>The bias's shape from whichever of the four bias options is set (the validator allows one).</summary>
    public static LogitTensorShape? BiasOf(AttentionOptions o) =>
        o.Bias is { } b ? new(b.Batch, b.Heads, b.SeqLenQ, b.SeqLenK, b.Data?.LongLength ?? 0)
        : o.DeviceBias is { } d ? new(d.Batch, d.Heads, d.SeqLenQ, d.SeqLenK, d.Data.Length)
        : o.HalfBias is { } h ? new(h.Batch, h.Heads, h.SeqLenQ, h.SeqLenK, h.Data?.LongLength ?? 0)
        : o.DeviceHalfBias is { } dh ? new(dh.Batch, dh.Heads, dh.SeqLenQ, dh.SeqLenK, dh.Data.Length)
        : null;

    /// <summary>Whether the bias set is one of the float16 forms.</summary>
    public static bool HalfBiasOf(AttentionOptions o) => o.HalfBias is not null || o.DeviceHalfBias is not null;

    public static LogitTensorShape? MaskOf(AttentionOptions o) =>
        o.Mask is { } m ? new(m.Batch, m.Heads, m.SeqLenQ, m.SeqLenK, m.Data?.LongLength ?? 0)
        : o.DeviceMask is { } d ? new(d.Batch, d.Heads, d.SeqLenQ, d.SeqLenK, d.Data.Length)
        : null;

    public string Text => $"[{Batch}, {Heads}, {SeqLenQ}, {SeqLenK}]";
}
