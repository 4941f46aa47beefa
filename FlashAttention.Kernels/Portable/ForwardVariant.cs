namespace FlashAttention.Kernels.Portable;

/// <summary>Which body of the portable forward kernel a launch runs (both produce the same results).</summary>
public enum ForwardVariant
{
    /// <summary>
    /// v3 (<see cref="ForwardKernel"/>): one thread per query row does the online softmax while the
    /// others wait; S = Q Kᵀ is split into 4 x 4 blocks only, so tiles with fewer blocks than threads
    /// leave threads idle.
    /// </summary>
    V3 = 0,

    /// <summary>
    /// v4 (<see cref="ParallelForwardKernel"/>): every thread of the group takes part in the softmax
    /// (head dim / 32 threads per row, maxima combined through shared memory, partial sums kept
    /// per thread), and S = Q Kᵀ splits the head dim between threads when the tile has fewer 4 x 4
    /// blocks than the group has threads, so Bc = 32 keeps all threads busy at head dim 128.
    /// </summary>
    V4 = 1,
}
