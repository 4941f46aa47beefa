namespace FlashAttention.Bench;

/// <summary>
/// A forward kernel choice the sweep can time: auto, portable, tc (tensor cores, default tile) or
/// tcN[xR][bC][@G] (tensor cores, N warps per group of R rows each, C keys per tile, G groups per SM
/// as launch bounds), wgN[@G] (Hopper's wgmma, N warps = N / 4 warpgroups), wgpN[@G] (the same, pipelined),
/// each reported under its own implementation name.
/// </summary>
/// A kernel may carry score variants after '+': "+bias" (a float32 bias [1, heads, N, N] in device
/// memory), "+bias16" (the same bias in float16), "+mask" (a boolean mask [1, 1, N, N], 90 % kept), "+causalmask" (a boolean mask [1, 1, N, N]
/// holding the causal triangle, for the kernel with causal off), "+docsL" (a boolean mask [1, 1, N, N] of
/// documents of L tokens, each seeing itself whole), "+wL" (a sliding window of L keys on
/// each side) or "+blocksP" (a block mask with P % of its 128 x 128 blocks visible), e.g. tc+bias, tc+w1024, tc+blocks25.
public sealed record BenchKernel(string Name, KernelPath Path, TensorCoreTile? Tile)
{
    /// <summary>Adds a bias tensor [1, heads, N, N].</summary>
    public bool Bias { get; init; }

    /// <summary>With <see cref="Bias"/>: the bias is float16 (<see cref="DeviceAttentionHalfBias"/>), not float32.</summary>
    public bool HalfBias { get; init; }

    /// <summary>Adds a boolean mask tensor [1, 1, N, N], 90 % of the pairs kept at random.</summary>
    public bool Mask { get; init; }

    /// <summary>Adds a boolean mask tensor [1, 1, N, N] holding the causal triangle (key j visible to query i when j &lt;= i).</summary>
    public bool CausalMask { get; init; }

    /// <summary>Adds a boolean mask tensor [1, 1, N, N] of documents of this many tokens (block-diagonal), or null.</summary>
    public int? DocumentLength { get; init; }

    /// <summary>Sliding window of this many keys on each side, or null.</summary>
    public int? Window { get; init; }

    /// <summary>Dropout probability in percent, or null.</summary>
    public int? DropoutPercent { get; init; }

    /// <summary>A random block mask (128 x 128 blocks, shared by batch and heads) with this percentage of the blocks visible, or null.</summary>
    public int? BlockPercent { get; init; }

    /// <summary>Parses one --kernels entry.</summary>
    /// <exception cref="BenchInputException">An unknown name or variant.</exception>
    public static BenchKernel Parse(string text)
    {
        var parts = text.Split('+');
        var kernel = ParseKernel(parts[0]) with { Name = text };
        foreach (var extra in parts.Skip(1))
        {
            kernel = extra switch
            {
                "bias" => kernel with { Bias = true },
                "bias16" => kernel with { Bias = true, HalfBias = true },
                "mask" => kernel with { Mask = true },
                "causalmask" => kernel with { CausalMask = true },
                _ when extra.StartsWith("docs", StringComparison.Ordinal) && int.TryParse(extra[4..], out int doc) && doc > 0 =>
                    kernel with { DocumentLength = doc },
                _ when extra.StartsWith('w') && int.TryParse(extra[1..], out int w) && w >= 0 => kernel with { Window = w },
                _ when extra.StartsWith("drop", StringComparison.Ordinal) && int.TryParse(extra[4..], out int dp) && dp is > 0 and < 100 =>
                    kernel with { DropoutPercent = dp },
                _ when extra.StartsWith("blocks", StringComparison.Ordinal) && int.TryParse(extra[6..], out int pct) && pct is >= 0 and <= 100 =>
                    kernel with { BlockPercent = pct },
                _ => throw new BenchInputException(
                    $"--kernels: unknown variant '+{extra}' in '{text}'; expected +bias, +bias16, +mask, +causalmask, +docsL (documents of L tokens), +wL (window of L keys), +blocksP (P % of 128 x 128 blocks visible) or +dropP (dropout of P %)"),
            };
        }
        return kernel;
    }

    private static BenchKernel ParseKernel(string text) => text switch
    {
        "auto" => new("auto", KernelPath.Auto, null),
        "portable" => new("portable", KernelPath.Portable, null),
        "tc" => new("tc", KernelPath.TensorCore, null),
        _ when text.StartsWith("tc", StringComparison.Ordinal) && TryTile(text[2..]) is { } tile =>
            new(text, KernelPath.TensorCore, tile),
        _ when text.StartsWith("wgp", StringComparison.Ordinal) && TryTile(text[3..]) is { WarpRows: 16, Bc: 64 } pipelined =>
            new(text, KernelPath.TensorCore, pipelined with { Wgmma = true, Pipelined = true }),
        _ when text.StartsWith("wg", StringComparison.Ordinal) && TryTile(text[2..]) is { WarpRows: 16, Bc: 64 } tile =>
            new(text, KernelPath.TensorCore, tile with { Wgmma = true }),
        _ => throw new BenchInputException(
            $"--kernels: unknown kernel '{text}'; expected auto, portable, tc, tcN[xR][bC][@G] (N warps of R rows, C keys per tile, G groups per SM as launch bounds; e.g. tc8, tc4x32, tc4x32b32, tc8@2) or wgN[@G] / wgpN[@G] (Hopper wgmma, N = 4, 8 or 12 warps, wgp pipelined; e.g. wg4, wg8@1, wg12@1, wgp8@2)"),
    };

    private static TensorCoreTile? TryTile(string spec)
    {
        var parts = spec.Split('@');
        var keys = parts[0].Split('b');
        var shape = keys[0].Split('x');
        int rows = 16, groups = 0, bc = 64;
        if (parts.Length > 2 || keys.Length > 2 || shape.Length > 2 || !int.TryParse(shape[0], out int warps)
            || (shape.Length == 2 && !int.TryParse(shape[1], out rows))
            || (keys.Length == 2 && !int.TryParse(keys[1], out bc))
            || (parts.Length == 2 && !int.TryParse(parts[1], out groups)))
            return null;
        return new TensorCoreTile(warps, groups, rows, bc);
    }

    /// <summary>The implementation name in the results ("flash-" + the kernel name; auto names what it picked).</summary>
    public string ImplName(AttentionEngine engine, Type elementType) => "flash-" + (Path switch
    {
        KernelPath.Auto => (engine.HasTensorCores && (elementType == typeof(Half) || elementType == typeof(BFloat16)) ? "tc" : "portable") + Name[4..],
        _ => Name,
    });

    /// <summary>The options that run this kernel.</summary>
    public AttentionOptions Options(bool causal) => new()
    {
        Causal = causal, ReturnLse = true, Kernel = Path, TensorCoreTile = Tile,
        Window = Window is int w ? new AttentionWindow(w, w) : null,
        DropoutP = DropoutPercent is int d ? d / 100f : 0f, DropoutSeed = 1,
    };
}
