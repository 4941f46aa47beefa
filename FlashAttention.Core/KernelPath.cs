namespace FlashAttention;

/// <summary>Which forward kernel runs a call.</summary>
public enum KernelPath
{
    /// <summary>
    /// The tensor-core kernel on CUDA devices of compute capability 8.0 or newer with Half or BFloat16
    /// inputs, the portable kernel everywhere else. Naming a <see cref="AttentionOptions.Tile"/> picks the
    /// portable kernel, naming a <see cref="AttentionOptions.TensorCoreTile"/> the tensor-core one.
    /// </summary>
    Auto,

    /// <summary>The portable (SIMT) kernel: every backend and element type.</summary>
    Portable,

    /// <summary>
    /// The tensor-core kernel (mma.sync, ldmatrix, cp.async): Half or BFloat16 on CUDA sm_80+, or on
    /// the CPU accelerator, which runs the same kernel through a warp-shuffle emulation (for tests and debugging).
    /// Refused (<see cref="ArgumentException"/>) together with a sliding window, ALiBi slopes or a soft cap.
    /// </summary>
    TensorCore,
}
