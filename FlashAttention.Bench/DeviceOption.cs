using System.CommandLine;

namespace FlashAttention.Bench;

/// <summary>The --device option every command shares.</summary>
public static class DeviceOption
{
    /// <summary>--device auto|cpu|cuda|opencl, default auto (parsed case-insensitively).</summary>
    public static Option<AcceleratorChoice> Create() => new("--device")
    {
        Description = "Accelerator to run on: auto (CUDA, else OpenCL, else CPU), cpu, cuda or opencl.",
        HelpName = "auto|cpu|cuda|opencl",
        DefaultValueFactory = _ => AcceleratorChoice.Auto,
    };
}
