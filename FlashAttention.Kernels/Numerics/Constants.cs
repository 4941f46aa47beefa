namespace FlashAttention.Kernels.Numerics;

/// <summary>
/// An integer known when a kernel is compiled. Kernels take these as generic type arguments so
/// ILGPU folds head dims and tile sizes into the code (loop bounds, divisions, shared offsets),
/// and each specialisation is an ordinary kernel whose CUDA function the launcher can configure
/// (dynamic shared memory above 48 KB) before its first launch.
/// </summary>
public interface IConstant
{
    /// <summary>The value.</summary>
    int Value { get; }
}

#pragma warning disable CS1591 // the names say it all
public readonly struct C0 : IConstant { public int Value => 0; }
public readonly struct C1 : IConstant { public int Value => 1; }
public readonly struct C2 : IConstant { public int Value => 2; }
public readonly struct C4 : IConstant { public int Value => 4; }
public readonly struct C8 : IConstant { public int Value => 8; }
public readonly struct C12 : IConstant { public int Value => 12; }
public readonly struct C16 : IConstant { public int Value => 16; }
public readonly struct C32 : IConstant { public int Value => 32; }
public readonly struct C64 : IConstant { public int Value => 64; }
public readonly struct C96 : IConstant { public int Value => 96; }
public readonly struct C128 : IConstant { public int Value => 128; }
public readonly struct C160 : IConstant { public int Value => 160; }
public readonly struct C192 : IConstant { public int Value => 192; }
public readonly struct C224 : IConstant { public int Value => 224; }
public readonly struct C256 : IConstant { public int Value => 256; }
#pragma warning restore CS1591

/// <summary>Maps run-time integers to the <see cref="IConstant"/> types above.</summary>
public static class Constants
{
    private static readonly Dictionary<int, Type> Types = new()
    {
        [1] = typeof(C1), [2] = typeof(C2), [4] = typeof(C4), [8] = typeof(C8), [12] = typeof(C12), [16] = typeof(C16), [32] = typeof(C32), [64] = typeof(C64),
        [96] = typeof(C96), [128] = typeof(C128), [160] = typeof(C160), [192] = typeof(C192),
        [224] = typeof(C224), [256] = typeof(C256),
    };

    /// <summary>The values a kernel can be specialised for.</summary>
    public static IReadOnlyCollection<int> Supported => Types.Keys;

    /// <summary>Whether <paramref name="value"/> has a constant type.</summary>
    public static bool IsSupported(int value) => Types.ContainsKey(value);

    /// <summary>The constant type of <paramref name="value"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">No constant type exists for the value.</exception>
    public static Type TypeOf(int value) => Types.TryGetValue(value, out var type)
        ? type
        : throw new ArgumentOutOfRangeException(nameof(value), value,
            $"no compile-time constant for {value}; supported: {string.Join(", ", Types.Keys.Order())}");
}
