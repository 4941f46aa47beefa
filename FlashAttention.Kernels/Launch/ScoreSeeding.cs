namespace FlashAttention.Kernels.Launch;

/// <summary>
/// Which tensor-core forwards start S's product from their mask or bias (<see cref="TensorCore.SeededScores{TMode}"/>) instead
/// of applying it to S after the product.
/// </summary>
public enum ScoreSeeding
{
    /// <summary>None: the softmax applies every mask and bias after the product (FLASH_SEED_SCORES=0).</summary>
    None,

    /// <summary>
    /// A packed mask alone on the unpipelined wgmma kernel (the default). H100, fp16, B 2 x N 8192, two rounds alternating
    /// (docs/PERFORMANCE.md, session 22, s22a): d 64 4.46-4.54 ms against 4.65-4.69, d 128 3.24-3.26 against 3.43-3.46.
    /// </summary>
    PackedMaskOnWgmma,

    /// <summary>
    /// Also a packed mask on mma.sync and a staged float16 bias at a positive scale (FLASH_SEED_SCORES=1, session 21's whole
    /// experiment). The bias measured no faster on the H100 (d 64: 4.49-4.63 ms against 4.43-4.59, s22a), and mma.sync is
    /// untimed (its 32-row d 128 kernel spills 56 bytes seeded, none unseeded: CUDA 12.4 ptxas).
    /// </summary>
    All,
}
