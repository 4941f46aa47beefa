namespace FlashAttention.Kernels.TensorCore;

/// <summary>
/// Whether a tensor-core kernel is compiled with soft-capping and ALiBi (and the bias and mask
/// tensors), fixed at compile time as
/// FlashAttention-2 templates on them: the code for them, even behind a branch that is never
/// taken, cost the plain kernel 3-14 % on the H100 (registers and scheduling of the key loop).
/// The launcher picks <see cref="PointwiseScores"/> or <see cref="TensorScores"/> only for calls that
/// set one of them.
/// </summary>
public interface IScoreMode
{
    /// <summary>True: apply <c>ScoreModifier</c>'s soft cap and ALiBi to every score.</summary>
    bool Pointwise { get; }

    /// <summary>True: also add the bias tensor and apply the boolean mask tensor (<c>ScoreBias</c>).</summary>
    bool Tensors { get; }

    /// <summary>True: also drop probabilities (<c>Dropout</c>, Philox-4x32-10) before the P V product.</summary>
    /// <remarks>No default implementation: ILGPU cannot compile a call to one (it names the interface type).</remarks>
    bool Dropout { get; }

    /// <summary>True: hide the scores a packed keep-mask (<c>MaskBits</c>) clears; nothing else.</summary>
    bool BitMask { get; }

    /// <summary>True: add the bias tensor and nothing else, folded into the fused scale (<see cref="BiasScores"/>).</summary>
    bool BiasOnly { get; }

    /// <summary>True (with <see cref="BiasOnly"/>): the bias tensor holds float16, two to a 32-bit element (<see cref="HalfBiasScores"/>).</summary>
    bool HalfBias { get; }

    /// <summary>True (with <see cref="HalfBias"/>, wgmma kernels): the bias reaches the softmax through shared memory by cp.async (<see cref="StagedHalfBiasScores"/>).</summary>
    bool StagedBias { get; }

    /// <summary>True (with <see cref="BitMask"/>, wgmma kernels): the packed mask's words reach the softmax through shared memory by cp.async (<see cref="StagedBitMaskScores"/>).</summary>
    bool StagedMask { get; }

    /// <summary>
    /// True (with <see cref="BitMask"/>, or with <see cref="StagedBias"/> at a positive scale): S's product starts from the tile's
    /// mask (-inf where it hides a score, <c>MaskWords.Seed</c>) or bias (b / scale) instead of zeros, so nothing is applied to S
    /// after the product (<see cref="SeededScores{TMode}"/>). Not in the pipelined wgmma kernel, whose product overwrites S.
    /// </summary>
    bool Seeded { get; }
}

/// <summary>Scores are Q K^T times the scale, nothing more.</summary>
public readonly struct PlainScores : IScoreMode
{
    /// <inheritdoc />
    public bool Pointwise => false;

    /// <inheritdoc />
    public bool Tensors => false;

    /// <inheritdoc />
    public bool Dropout => false;

    /// <inheritdoc />
    public bool BitMask => false;

    /// <inheritdoc />
    public bool BiasOnly => false;

    /// <inheritdoc />
    public bool HalfBias => false;

    /// <inheritdoc />
    public bool StagedBias => false;

    /// <inheritdoc />
    public bool StagedMask => false;

    /// <inheritdoc />
    public bool Seeded => false;
}

/// <summary>Scores pass through soft-capping and ALiBi.</summary>
public readonly struct PointwiseScores : IScoreMode
{
    /// <inheritdoc />
    public bool Pointwise => true;

    /// <inheritdoc />
    public bool Tensors => false;

    /// <inheritdoc />
    public bool Dropout => false;

    /// <inheritdoc />
    public bool BitMask => false;

    /// <inheritdoc />
    public bool BiasOnly => false;

    /// <inheritdoc />
    public bool HalfBias => false;

    /// <inheritdoc />
    public bool StagedBias => false;

    /// <inheritdoc />
    public bool StagedMask => false;

    /// <inheritdoc />
    public bool Seeded => false;
}

/// <summary>Scores pass through soft-capping, ALiBi, the bias tensor and the mask tensor.</summary>
public readonly struct TensorScores : IScoreMode
{
    /// <inheritdoc />
    public bool Pointwise => true;

    /// <inheritdoc />
    public bool Tensors => true;

    /// <inheritdoc />
    public bool Dropout => false;

    /// <inheritdoc />
    public bool BitMask => false;

    /// <inheritdoc />
    public bool BiasOnly => false;

    /// <inheritdoc />
    public bool HalfBias => false;

    /// <inheritdoc />
    public bool StagedBias => false;

    /// <inheritdoc />
    public bool StagedMask => false;

    /// <inheritdoc />
    public bool Seeded => false;
}

/// <summary>
/// Every score variant and dropout: the mode of calls with a dropout probability (one Philox block per
/// row and four keys, ten rounds each, is too heavy to compile into the other modes behind a branch).
/// </summary>
public readonly struct DropoutScores : IScoreMode
{
    /// <inheritdoc />
    public bool Pointwise => true;

    /// <inheritdoc />
    public bool Tensors => true;

    /// <inheritdoc />
    public bool Dropout => true;

    /// <inheritdoc />
    public bool BitMask => false;

    /// <inheritdoc />
    public bool BiasOnly => false;

    /// <inheritdoc />
    public bool HalfBias => false;

    /// <inheritdoc />
    public bool StagedBias => false;

    /// <inheritdoc />
    public bool StagedMask => false;

    /// <inheritdoc />
    public bool Seeded => false;
}

/// <summary>
/// Plain scores under a boolean mask and nothing else, the mask packed to bits (<c>MaskBits</c>): the
/// common masked call keeps the plain kernel's fused scale and its 32-row warps, and pays one bit
/// test per score (the byte mask in <see cref="TensorScores"/> cost two loads per pair of scores).
/// </summary>
public readonly struct BitMaskScores : IScoreMode
{
    /// <inheritdoc />
    public bool Pointwise => false;

    /// <inheritdoc />
    public bool Tensors => false;

    /// <inheritdoc />
    public bool Dropout => false;

    /// <inheritdoc />
    public bool BitMask => true;

    /// <inheritdoc />
    public bool BiasOnly => false;

    /// <inheritdoc />
    public bool HalfBias => false;

    /// <inheritdoc />
    public bool StagedBias => false;

    /// <inheritdoc />
    public bool StagedMask => false;

    /// <inheritdoc />
    public bool Seeded => false;
}

/// <summary>
/// Plain scores plus a float32 bias tensor and nothing else (no mask tensor, soft cap, ALiBi or
/// dropout), the bias read pair by pair a tile ahead (<c>BiasFragment</c>, so the launcher picks this
/// mode only where pairs are aligned). The bias joins the raw score in one FFMA, s + b / scale, and the
/// plain kernel's fused scale·s - m stays: the general <see cref="TensorScores"/> mode scales every
/// score, loads mask bytes from a placeholder and tests every element against the sequence ends
/// (garbage rows past seqlen_q are discarded, keys past seqlen_k are masked after the bias anyway).
/// </summary>
public readonly struct BiasScores : IScoreMode
{
    /// <inheritdoc />
    public bool Pointwise => false;

    /// <inheritdoc />
    public bool Tensors => false;

    /// <inheritdoc />
    public bool Dropout => false;

    /// <inheritdoc />
    public bool BitMask => false;

    /// <inheritdoc />
    public bool BiasOnly => true;

    /// <inheritdoc />
    public bool HalfBias => false;

    /// <inheritdoc />
    public bool StagedBias => false;

    /// <inheritdoc />
    public bool StagedMask => false;

    /// <inheritdoc />
    public bool Seeded => false;
}

/// <summary>
/// <see cref="BiasScores"/> on a float16 bias (<c>ScoreBias.BiasHalf</c>): each pair of a row is one 4-byte
/// load instead of 8, half the bytes of the float32 tensor, widened in the softmax (torch SDPA's attn_mask has
/// the query's dtype too). Every other kernel reads a float16 bias widened to float32 by the engine.
/// </summary>
public readonly struct HalfBiasScores : IScoreMode
{
    /// <inheritdoc />
    public bool Pointwise => false;

    /// <inheritdoc />
    public bool Tensors => false;

    /// <inheritdoc />
    public bool Dropout => false;

    /// <inheritdoc />
    public bool BitMask => false;

    /// <inheritdoc />
    public bool BiasOnly => true;

    /// <inheritdoc />
    public bool HalfBias => true;

    /// <inheritdoc />
    public bool StagedBias => false;

    /// <inheritdoc />
    public bool StagedMask => false;

    /// <inheritdoc />
    public bool Seeded => false;
}

/// <summary>
/// <see cref="HalfBiasScores"/> with the bias staged through shared memory (<c>BiasStage</c>): each warp's 16 rows of the next
/// key tile arrive by cp.async while the current tile is computed, so no register holds the bias in flight and no
/// thread waits on a global load. wgmma kernels only, where seqlen_k is a multiple of 8 and the bias is 16-byte aligned.
/// </summary>
public readonly struct StagedHalfBiasScores : IScoreMode
{
    /// <inheritdoc />
    public bool Pointwise => false;

    /// <inheritdoc />
    public bool Tensors => false;

    /// <inheritdoc />
    public bool Dropout => false;

    /// <inheritdoc />
    public bool BitMask => false;

    /// <inheritdoc />
    public bool BiasOnly => true;

    /// <inheritdoc />
    public bool HalfBias => true;

    /// <inheritdoc />
    public bool StagedBias => true;

    /// <inheritdoc />
    public bool StagedMask => false;

    /// <inheritdoc />
    public bool Seeded => false;
}

/// <summary>
/// <see cref="BitMaskScores"/> with the packed words staged through shared memory (<c>MaskStage</c>): each warp's 16 rows of the
/// next key tile arrive by cp.async in the commit group of that tile's K and V, so the softmax reads them from shared memory
/// instead of waiting on a global load issued at the top of its own tile. wgmma kernels only.
/// </summary>
public readonly struct StagedBitMaskScores : IScoreMode
{
    /// <inheritdoc />
    public bool Pointwise => false;

    /// <inheritdoc />
    public bool Tensors => false;

    /// <inheritdoc />
    public bool Dropout => false;

    /// <inheritdoc />
    public bool BitMask => true;

    /// <inheritdoc />
    public bool BiasOnly => false;

    /// <inheritdoc />
    public bool HalfBias => false;

    /// <inheritdoc />
    public bool StagedBias => false;

    /// <inheritdoc />
    public bool StagedMask => true;

    /// <inheritdoc />
    public bool Seeded => false;
}

/// <summary>
/// <typeparamref name="TMode"/> (a packed-mask mode, or <see cref="StagedHalfBiasScores"/>) with S's product seeded: the
/// accumulator starts at the tile's mask (-inf where it hides a score, 0 elsewhere) or bias (b / scale) and the tensor cores add
/// Q K^T onto it, so the mask's tests and selects or the bias's FFMA no longer wait on the product (session 21's experiment,
/// FLASH_SEED_SCORES=1). A compile-time part of the mode, like every other: the kernels without it carry none of its code.
/// </summary>
public readonly struct SeededScores<TMode> : IScoreMode where TMode : struct, IScoreMode
{
    /// <inheritdoc />
    public bool Pointwise => default(TMode).Pointwise;

    /// <inheritdoc />
    public bool Tensors => default(TMode).Tensors;

    /// <inheritdoc />
    public bool Dropout => default(TMode).Dropout;

    /// <inheritdoc />
    public bool BitMask => default(TMode).BitMask;

    /// <inheritdoc />
    public bool BiasOnly => default(TMode).BiasOnly;

    /// <inheritdoc />
    public bool HalfBias => default(TMode).HalfBias;

    /// <inheritdoc />
    public bool StagedBias => default(TMode).StagedBias;

    /// <inheritdoc />
    public bool StagedMask => default(TMode).StagedMask;

    /// <inheritdoc />
    public bool Seeded => true;
}
