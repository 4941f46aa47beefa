namespace FlashAttention.Kernels.Numerics;

/// <summary>
/// FlashAttention-4's conditional rescaling of the online softmax: the running max m moves only when a block of scores passes
/// it by more than <see cref="Threshold"/> (log2 domain). Until then p = exp2(s - m) may reach 2^8, far inside fp32 and inside
/// fp16 and bf16 for P V, while the rescale factor alpha = exp2(m_old - m_new) is exactly 1, so the kernels skip the rescale of
/// acc (a whole warp at once, where it votes). O = acc / l and LSE = m + log2 l hold for any m, so the result is the same
/// softmax, and the backward, which recomputes P from LSE, is unaffected. With random scores a row's m then moves on its first
/// block and almost never after, where it had moved on every block that held a new maximum.
/// </summary>
internal static class LazyRescale
{
    /// <summary>
    /// How far a block may pass m before m moves: 8, or 0 (m always the running max) in the experiment FLASH_LAZY_RESCALE=0
    /// (a readonly static field, so kernels compile it in as a constant).
    /// </summary>
    public static readonly float Threshold = Environment.GetEnvironmentVariable("FLASH_LAZY_RESCALE") == "0" ? 0f : 8f;

    /// <summary>The running max after a block whose own max is <paramref name="blockMax"/>: <paramref name="m"/> unless the block passes it by more than <see cref="Threshold"/>.</summary>
    public static float Next(float m, float blockMax) => blockMax > m + Threshold ? blockMax : m;
}
