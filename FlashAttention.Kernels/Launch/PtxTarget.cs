using System.Text.RegularExpressions;
using ILGPU.Backends.PTX;

namespace FlashAttention.Kernels.Launch;

/// <summary>
/// wgmma exists only in the architecture-specific PTX target sm_90a, which ILGPU 1.5.3 never writes
/// (it names the lowest target its own features need, sm_80 on the H100). A kernel whose PTX uses
/// wgmma is retargeted before the driver compiles it; such a module runs on compute capability 9.0
/// devices only, which the engine checks before choosing it.
/// </summary>
public static partial class PtxTarget
{
    [GeneratedRegex(@"^\.target\s+sm_\d+a?\b", RegexOptions.Multiline)]
    private static partial Regex TargetLine();

    /// <summary>Rewrites the <c>.target</c> line of <paramref name="kernel"/> to sm_90a when its PTX contains wgmma; returns whether it did.</summary>
    public static bool ForWgmma(PTXCompiledKernel kernel)
    {
        var ptx = kernel.PTXAssembly;
        if (!ptx.Contains("wgmma.", StringComparison.Ordinal))
            return false;
        PtxOperandPromotion.PtxField.SetValue(kernel, Retarget(ptx));
        return true;
    }

    /// <summary>The PTX text with its target set to sm_90a.</summary>
    public static string Retarget(string ptx) => TargetLine().Replace(ptx, ".target sm_90a", 1);
}
