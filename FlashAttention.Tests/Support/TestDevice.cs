namespace FlashAttention.Tests.Support;

/// <summary>
/// The engine every kernel test runs on: the CPU accelerator by default (CI), or the device named
/// by FLASH_TEST_DEVICE=cuda|opencl|cpu, so the same suite runs on a GPU machine.
/// </summary>
public static class TestDevice
{
    private static readonly Lazy<AttentionEngine> Shared = new(() => AttentionEngine.Create(Choice));

    /// <summary>The accelerator chosen through FLASH_TEST_DEVICE (default cpu).</summary>
    public static AcceleratorChoice Choice =>
        (Environment.GetEnvironmentVariable("FLASH_TEST_DEVICE") ?? "cpu").ToLowerInvariant() switch
        {
            "cuda" => AcceleratorChoice.Cuda,
            "opencl" => AcceleratorChoice.OpenCL,
            "auto" => AcceleratorChoice.Auto,
            _ => AcceleratorChoice.Cpu,
        };

    /// <summary>One engine for the whole run (kernels compile once).</summary>
    public static AttentionEngine Engine => Shared.Value;

    private static readonly Lazy<AttentionEngine> CpuForTensorCores = new(() => AttentionEngine.Create(AcceleratorChoice.Cpu));

    /// <summary>
    /// Where the tensor-core kernels run: the chosen device when it is CUDA (inline PTX) or the CPU
    /// (emulation); on OpenCL, which the tensor-core path does not serve, the CPU accelerator.
    /// </summary>
    public static AttentionEngine TensorCoreEngine => Engine.AcceleratorType == AcceleratorType.OpenCL ? CpuForTensorCores.Value : Engine;

    /// <summary>Where the wgmma kernels run: the tensor-core engine when it is the CPU or a compute capability 9.0 device, else the CPU accelerator.</summary>
    public static AttentionEngine WgmmaEngine =>
        TensorCoreEngine.AcceleratorType == AcceleratorType.CPU || TensorCoreEngine.HasWgmma ? TensorCoreEngine : CpuForTensorCores.Value;

    /// <summary>The tensor-core target type the kernels on <see cref="TensorCoreEngine"/> are compiled for.</summary>
    public static Type TensorCoreTarget => Kernels.Launch.KernelCatalog.Target(TensorCoreEngine.AcceleratorType == AcceleratorType.Cuda);
}
