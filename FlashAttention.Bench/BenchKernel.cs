namespace FlashAttention.Bench;

/// <summary>
/// A forward kernel choice the sweep can time: auto, portable, tc (tensor cores, default tile) or
/// tcN (tensor cores, N warps per group), each reported under its own implementation name.
/// </summary>
public sealed record BenchKernel(string Name, KernelPath Path, TensorCoreTile? Tile)
{
    /// <summary>Parses one --kernels entry.</summary>
    /// <exception cref="BenchInputException">An unknown name.</exception>
    public static BenchKernel Parse(string text) => text switch
    {
        "auto" => new("auto", KernelPath.Auto, null),
        "portable" => new("portable", KernelPath.Portable, null),
        "tc" => new("tc", KernelPath.TensorCore, null),
        _ when text.StartsWith("tc", StringComparison.Ordinal) && int.TryParse(text.AsSpan(2), out int warps) =>
            new(text, KernelPath.TensorCore, new TensorCoreTile(warps)),
        _ => throw new BenchInputException($"--kernels: unknown kernel '{text}'; expected auto, portable, tc or tcN (N warps, e.g. tc8)"),
    };

    /// <summary>The implementation name in the results ("flash-" + the kernel name; auto names what it picked).</summary>
    public string ImplName(AttentionEngine engine, Type elementType) => "flash-" + (Path switch
    {
        KernelPath.Auto => engine.HasTensorCores && (elementType == typeof(Half) || elementType == typeof(BFloat16)) ? "tc" : "portable",
        _ => Name,
    });

    /// <summary>The options that run this kernel.</summary>
    public AttentionOptions Options(bool causal) => new() { Causal = causal, ReturnLse = true, Kernel = Path, TensorCoreTile = Tile };
}
