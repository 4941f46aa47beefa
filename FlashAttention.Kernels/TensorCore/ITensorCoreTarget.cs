namespace FlashAttention.Kernels.TensorCore;

/// <summary>
/// Where a tensor-core kernel runs, fixed when it is compiled: the inline-PTX instructions
/// (mma.sync, ldmatrix, cp.async, cvt) on CUDA, or their warp-collective C# emulation on the CPU
/// accelerator. A compile-time type rather than a run-time <c>CudaAsm.IsSupported</c> test because
/// ILGPU 1.5.3 keeps both sides of that test in the PTX (a predicate set to true, not folded): the
/// emulation then doubled the compile time and the code size of every kernel. The launchers pick
/// <see cref="NativePtx"/> exactly where <c>CudaAsm.IsSupported</c> holds (CUDA accelerators).
/// </summary>
public interface ITensorCoreTarget
{
    /// <summary>True: emit inline PTX; false: run the C# emulation.</summary>
    bool EmitsPtx { get; }

    /// <summary>
    /// True: the tensor-core forward multiplies with Hopper's warpgroup instructions (wgmma, sm_90a)
    /// on 128-byte-swizzled shared tiles (<see cref="Swizzle128"/>); false: with mma.sync on padded tiles.
    /// </summary>
    bool Wgmma { get; }
}

/// <summary>The CUDA target: inline PTX.</summary>
public readonly struct NativePtx : ITensorCoreTarget
{
    /// <inheritdoc />
    public bool EmitsPtx => true;

    /// <inheritdoc />
    public bool Wgmma => false;
}

/// <summary>Every other accelerator: the same results per lane through warp shuffles and plain copies.</summary>
public readonly struct WarpEmulation : ITensorCoreTarget
{
    /// <inheritdoc />
    public bool EmitsPtx => false;

    /// <inheritdoc />
    public bool Wgmma => false;
}

/// <summary>Hopper (sm_90a): wgmma.mma_async on swizzled shared tiles, through inline PTX.</summary>
public readonly struct NativeWgmma : ITensorCoreTarget
{
    /// <inheritdoc />
    public bool EmitsPtx => true;

    /// <inheritdoc />
    public bool Wgmma => true;
}

/// <summary>
/// The wgmma kernels elsewhere: each thread computes its own accumulator elements from the shared
/// tiles, addressed through the same descriptors the hardware decodes.
/// </summary>
public readonly struct WgmmaEmulation : ITensorCoreTarget
{
    /// <inheritdoc />
    public bool EmitsPtx => false;

    /// <inheritdoc />
    public bool Wgmma => true;
}
