namespace FlashAttention;

/// <summary>Which accelerator an <see cref="AttentionEngine"/> runs on.</summary>
public enum AcceleratorChoice
{
    /// <summary>The best present: a CUDA GPU, else an OpenCL device ILGPU can use, else the CPU.</summary>
    Auto,

    /// <summary>The first CUDA GPU; fails if there is none.</summary>
    Cuda,

    /// <summary>The first OpenCL device that supports ILGPU (OpenCL C 2.0 generic address space); fails if none.</summary>
    OpenCL,

    /// <summary>ILGPU's CPU accelerator, shaped like an NVIDIA GPU (warp 32): kernels run as .NET code, debuggable.</summary>
    Cpu,
}
