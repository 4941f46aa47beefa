using FlashAttention.Kernels.Portable;

namespace FlashAttention;

/// <summary>
/// The tile shape of the portable forward kernel: Br query rows and Bc key columns per step, and
/// the threads of one group. Its shared-memory need depends on the head dim, which kernels are
/// compiled for in steps of 32 (FlashAttention-2's choice): a head dim of 40 runs the 64 kernel
/// with the extra columns zero-filled.
/// </summary>
/// <param name="Br">Query rows per group (a multiple of 4 with a compiled constant: 8, 16, 32, 64, 128).</param>
/// <param name="Bc">Key columns per step (same set as <paramref name="Br"/>).</param>
/// <param name="Threads">
/// Threads per group. The forward kernel keeps its output accumulator in registers, 4 rows x 8 dims
/// per thread, so there it must be Br x padded head dim / 32 (<see cref="ForwardThreads"/>); the
/// backward kernels take any count.
/// </param>
/// <param name="Variant">
/// Which forward kernel body runs (<see cref="ForwardVariant"/>); the backward ignores it. Both
/// take the same threads; their shared memory differs (<see cref="SharedMemoryBytes"/>).
/// </param>
public sealed record TileConfig(int Br, int Bc, int Threads, ForwardVariant Variant = ForwardVariant.V3)
{
    /// <summary>
    /// Environment variable that overrides the forward default, for benchmarking variants against
    /// each other without code changes: <c>v3</c> or <c>v4</c> (that variant's preferred tiles), or
    /// <c>v4:64x32</c> (variant, Br x Bc). A tile that does not fit the device falls back to the
    /// variant's preferred tiles.
    /// </summary>
    public const string ForwardOverrideVariable = "FLASH_PORTABLE_FORWARD";

    /// <summary>Head dims the kernels are compiled for; others round up to the next.</summary>
    public static IReadOnlyList<int> CompiledHeadDims { get; } = [32, 64, 96, 128, 160, 192, 224, 256];

    /// <summary>Tile heights with a compiled constant.</summary>
    public static IReadOnlyList<int> TileSizes { get; } = [8, 16, 32, 64, 128];

    /// <summary>Smallest supported head dim.</summary>
    public const int MinHeadDim = 1;

    /// <summary>Largest supported head dim.</summary>
    public const int MaxHeadDim = 256;

    /// <summary>The compiled head dim that serves <paramref name="headDim"/>.</summary>
    public static int PadHeadDim(int headDim)
    {
        foreach (int d in CompiledHeadDims)
            if (headDim <= d)
                return d;
        throw new ArgumentOutOfRangeException(nameof(headDim), headDim, $"head dim must be at most {MaxHeadDim}");
    }

    /// <summary>Threads of a forward group: one per 4 x 8 block of the Br x head dim output tile.</summary>
    public static int ForwardThreads(int br, int headDim) => br * PadHeadDim(headDim) / 32;

    /// <summary>Shared memory one group of the forward kernel needs for <paramref name="headDim"/>.</summary>
    public int SharedMemoryBytes(int headDim) => Variant == ForwardVariant.V4
        ? new ParallelForwardLayout(PadHeadDim(headDim), Br, Bc).TotalBytes
        : new ForwardSharedLayout(PadHeadDim(headDim), Br, Bc).TotalBytes;

    /// <summary>Shared memory one group of the larger backward kernel (dK/dV) needs for <paramref name="headDim"/>.</summary>
    public int BackwardSharedMemoryBytes(int headDim) =>
        new BackwardSharedLayout(PadHeadDim(headDim), Br, Bc, keyValueKernel: true).TotalBytes;

    /// <summary>
    /// The preferred tile for <paramref name="headDim"/> that fits <paramref name="sharedMemoryLimitBytes"/>:
    /// large tiles reuse each K/V tile for more queries; smaller ones fit devices with 48 KB per group.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">No tile fits.</exception>
    public static TileConfig Choose(int headDim, int sharedMemoryLimitBytes, int maxThreadsPerGroup = 1024) =>
        ParseOverride(Environment.GetEnvironmentVariable(ForwardOverrideVariable)) is { } o
            ? Choose(headDim, sharedMemoryLimitBytes, maxThreadsPerGroup, o.Variant, o.Tile)
            : Choose(headDim, sharedMemoryLimitBytes, maxThreadsPerGroup, ForwardVariant.V4); // v4 measured faster at d 64 and d 128 (docs/PERFORMANCE.md)

    /// <summary>
    /// The preferred tile of <paramref name="variant"/> for <paramref name="headDim"/> that fits; <paramref name="preferred"/>
    /// (Br, Bc), when given and fitting, before the variant's own list.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">No tile fits.</exception>
    public static TileConfig Choose(int headDim, int sharedMemoryLimitBytes, int maxThreadsPerGroup, ForwardVariant variant,
        (int Br, int Bc)? preferred = null)
    {
        int dim = PadHeadDim(headDim);
        // v4 keeps every thread busy at Bc = 32 (S splits the head dim): up to d 96 it takes the
        // smaller K/V and score tiles (more groups per SM). At d 128, since K/V go through registers
        // as 16-byte loads (TileStage), 64 x 64 (2 groups per H100 SM) measured 3-4 % faster than
        // 64 x 32 (3 groups): 24.4 vs 23.6 TFLOPs at N 8K (docs/PERFORMANCE.md); at d 64 it was slower.
        (int Br, int Bc)[] v4 = dim <= 96
            ? [(64, 32), (32, 32), (16, 16), (8, 8)]
            : dim <= 128
                ? [(64, 64), (64, 32), (32, 32), (16, 16), (8, 8)]
                : [(32, 32), (32, 16), (16, 16), (8, 8)];
        // Measured on the H100 (docs/PERFORMANCE.md): at d <= 64, Bc = 32 lets more groups share an SM
        // (14.6 vs 12.4 TFLOPs); at d = 128, Bc = 64 did better (12.5 vs 12.1).
        (int Br, int Bc)[] candidates = dim <= 64
            ? [(64, 32), (32, 32), (16, 16), (8, 8)]
            : dim <= 128
                ? [(64, 64), (64, 32), (32, 32), (16, 16), (8, 8)]
                : [(32, 32), (32, 16), (16, 16), (8, 8)];
        if (variant == ForwardVariant.V4)
            candidates = v4;
        if (preferred is { } pick)
            candidates = [pick, .. candidates];
        foreach (var (br, bc) in candidates)
        {
            if (!TileSizes.Contains(br) || !TileSizes.Contains(bc))
                continue;
            var tile = new TileConfig(br, bc, ForwardThreads(br, headDim), variant);
            if (tile.SharedMemoryBytes(headDim) <= sharedMemoryLimitBytes && tile.Threads <= maxThreadsPerGroup)
                return tile;
        }
        throw new ArgumentOutOfRangeException(nameof(sharedMemoryLimitBytes), sharedMemoryLimitBytes,
            $"no tile for head dim {headDim} fits in {sharedMemoryLimitBytes} bytes of shared memory per group");
    }

    /// <summary>Reads <see cref="ForwardOverrideVariable"/>: "v3", "v4", "v4:64x32"; null when unset or not understood.</summary>
    public static (ForwardVariant Variant, (int Br, int Bc)? Tile)? ParseOverride(string? value)
    {
        if (string.IsNullOrWhiteSpace(value))
            return null;
        var parts = value.Trim().ToLowerInvariant().Split(':');
        ForwardVariant? variant = parts[0] switch { "v3" => ForwardVariant.V3, "v4" => ForwardVariant.V4, _ => null };
        if (variant is null || parts.Length > 2)
            return null;
        if (parts.Length == 1)
            return (variant.Value, null);
        var shape = parts[1].Split('x');
        return shape.Length == 2 && int.TryParse(shape[0], out int br) && int.TryParse(shape[1], out int bc)
            ? (variant.Value, (br, bc))
            : null;
    }

    /// <summary>The preferred backward tile for <paramref name="headDim"/> that fits <paramref name="sharedMemoryLimitBytes"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">No tile fits.</exception>
    public static TileConfig ChooseBackward(int headDim, int sharedMemoryLimitBytes, int maxThreadsPerGroup = 1024)
    {
        int threads = Math.Min(128, maxThreadsPerGroup);
        foreach (var (br, bc) in new[] { (32, 32), (16, 32), (16, 16), (8, 8) })
        {
            var tile = new TileConfig(br, bc, threads);
            if (tile.BackwardSharedMemoryBytes(headDim) <= sharedMemoryLimitBytes)
                return tile;
        }
        throw new ArgumentOutOfRangeException(nameof(sharedMemoryLimitBytes), sharedMemoryLimitBytes,
            $"no backward tile for head dim {headDim} fits in {sharedMemoryLimitBytes} bytes of shared memory per group");
    }

    /// <summary>Checks the tile against the kernel's rules and the device's limits.</summary>
    /// <exception cref="ArgumentException">Naming the field, its value and what is expected.</exception>
    public void Validate(int headDim, int sharedMemoryLimitBytes, int maxThreadsPerGroup, string paramName = "tile", bool backward = false)
    {
        if (!TileSizes.Contains(Br))
            throw new ArgumentException($"tile Br is {Br}; expected one of {string.Join(", ", TileSizes)}", paramName);
        if (!TileSizes.Contains(Bc))
            throw new ArgumentException($"tile Bc is {Bc}; expected one of {string.Join(", ", TileSizes)}", paramName);
        if (Threads < 1 || Threads > maxThreadsPerGroup)
            throw new ArgumentException($"tile Threads is {Threads}; expected 1 to {maxThreadsPerGroup} on this device", paramName);
        if (!backward && Threads != ForwardThreads(Br, headDim))
            throw new ArgumentException(
                $"tile Threads is {Threads}; expected Br x padded head dim / 32 = {ForwardThreads(Br, headDim)} for the forward " +
                "(each thread owns a 4 x 8 block of the output)", paramName);
        int bytes = backward ? BackwardSharedMemoryBytes(headDim) : SharedMemoryBytes(headDim);
        if (bytes > sharedMemoryLimitBytes)
            throw new ArgumentException(
                $"tile Br={Br}, Bc={Bc} needs {bytes} bytes{(backward ? " in the backward" : "")} of shared memory at head dim {headDim}; " +
                $"expected at most {sharedMemoryLimitBytes} (the device's limit per group)", paramName);
    }
}
