namespace FlashAttention.Kernels.Portable;

/// <summary>
/// Per-element terms of the logit that come from tensors: an additive float32 bias and a boolean
/// keep-mask (byte, 0 = masked), each [batch | 1, heads_q | 1, seqlen_q, seqlen_k] contiguous, broadcast
/// over batch and heads through a stride of 0. A masked element's logit is -inf, so every kernel's
/// existing handling of -inf (p = 0; a row with no finite logit gives output 0 and LSE -inf) covers
/// it with no new branch. The bias is added in the log2 domain (bias * log2 e) after soft-capping and
/// ALiBi. Offsets are 64-bit: seqlen_q * seqlen_k alone can pass 2^31. With a term off the engine
/// passes a real one-element view and a 0 flag, never a null view. <see cref="ScoreModifier"/>
/// carries one, so both forward variants and the backward read the same elements.
/// The backward's dQ pass also writes dBias = P (dP - D) through <see cref="StoreGradient"/>.
/// </summary>
public struct ScoreBias
{
    internal const float Log2E = 1.4426950408889634f;

    /// <summary>1 when <see cref="Bias"/> holds a bias.</summary>
    public int HasBias;

    /// <summary>
    /// 1 when every (i, j) with j even can be read together with (i, j + 1) in one access: seqlen_k is
    /// even, the bias view starts on 8 bytes and the mask view on 2. Set by the tensor-core launcher
    /// (the portable kernels read element by element and ignore it). It sits after
    /// <see cref="HasBias"/>, in the padding before the 8-byte-aligned view, so that no kernel's
    /// parameter layout moves.
    /// </summary>
    public int PairAligned;

    /// <summary>float32 [batch | 1, heads_q | 1, seqlen_q, seqlen_k].</summary>
    public ArrayView<float> Bias;

    /// <summary>Elements between batch items of <see cref="Bias"/> (0 when broadcast).</summary>
    public long BiasBatchStride;

    /// <summary>Elements between heads of <see cref="Bias"/> (0 when broadcast).</summary>
    public long BiasHeadStride;

    /// <summary>1 when <see cref="Mask"/> holds a mask.</summary>
    public int HasMask;

    /// <summary>
    /// 1 when <see cref="Bias"/> holds float16, two to an element ((i, j) and (i, j + 1) in one 32-bit word, strides and
    /// bases still in float16 elements). Only the tensor-core bias-only mode reads it so (<c>HalfBiasScores</c>); the
    /// engine hands every other kernel the bias widened to float32. It sits in the padding after <see cref="HasMask"/>.
    /// </summary>
    public int BiasHalf;

    /// <summary>Keep-mask bytes (nonzero = visible), the layout of the bias with its own strides.</summary>
    public ArrayView<byte> Mask;

    /// <summary>Elements between batch items of <see cref="Mask"/> (0 when broadcast).</summary>
    public long MaskBatchStride;

    /// <summary>Elements between heads of <see cref="Mask"/> (0 when broadcast).</summary>
    public long MaskHeadStride;

    /// <summary>1 when the dQ pass writes <see cref="BiasGradient"/>.</summary>
    public int HasGradient;

    /// <summary>dBias, float32, written at [batch, head] through its own strides (a full-size scratch when the bias broadcasts).</summary>
    public ArrayView<float> BiasGradient;

    /// <summary>Elements between batch items of <see cref="BiasGradient"/>.</summary>
    public long GradientBatchStride;

    /// <summary>Elements between heads of <see cref="BiasGradient"/>.</summary>
    public long GradientHeadStride;

    /// <summary>Query sequence length: kernels also visit padding rows past it, which must read nothing.</summary>
    public int SeqLenQ;

    /// <summary>Key sequence length: the row stride of every tensor here.</summary>
    public int SeqLenK;

    /// <summary>Offsets of the current (batch, head) in the three tensors; set by <see cref="ForHead"/>.</summary>
    public long BiasBase, MaskBase, GradientBase;

    /// <summary>The device address of <see cref="Bias"/>'s first element, for kernels that copy it with inline PTX (set by the tensor-core launcher on CUDA).</summary>
    public ulong BiasAddress;

    /// <summary>Whether a bias or a mask is present (kernels then send every visible score through the modifier).</summary>
    public readonly bool IsActive => HasBias != 0 || HasMask != 0;

    /// <summary>This lookup with the offsets of (<paramref name="batch"/>, <paramref name="head"/>) set.</summary>
    public readonly ScoreBias ForHead(int batch, int head)
    {
        var s = this;
        s.BiasBase = batch * BiasBatchStride + head * BiasHeadStride;
        s.MaskBase = batch * MaskBatchStride + head * MaskHeadStride;
        s.GradientBase = batch * GradientBatchStride + head * GradientHeadStride;
        return s;
    }

    /// <summary>The log2-domain logit of (i, j) with the bias added, or -inf where the mask hides it.</summary>
    public readonly float Apply(float logit, int i, int j)
    {
        // Padding rows (i >= seqlen_q) and keys past the end read nothing: their results are discarded.
        if (i >= SeqLenQ || j >= SeqLenK)
            return logit;
        long at = (long)i * SeqLenK + j;
        if (HasMask != 0 && Mask[MaskBase + at] == 0)
            return float.NegativeInfinity;
        if (HasBias != 0)
            logit += Bias[BiasBase + at] * Log2E;
        return logit;
    }

    /// <summary>Writes dBias of (i, j) in the dQ pass; nothing outside the sequences or with no gradient asked for.</summary>
    public readonly void StoreGradient(int i, int j, float value)
    {
        if (HasGradient != 0 && i < SeqLenQ && j < SeqLenK)
            BiasGradient[GradientBase + (long)i * SeqLenK + j] = value;
    }
}
