using System.Runtime.CompilerServices;
using FlashAttention.Kernels.Launch;

namespace FlashAttention;

/// <summary>Host-side conversions between the supported element types and float64/float32.</summary>
public static class Elements
{
    /// <summary>Whether <typeparamref name="T"/> is float, <see cref="Half"/> or <see cref="BFloat16"/>.</summary>
    public static bool IsSupported<T>() => KernelCatalog.IsSupportedElement(typeof(T));

    /// <summary>Short name of the element type: float32, float16 or bfloat16.</summary>
    public static string Name<T>() =>
        typeof(T) == typeof(float) ? "float32" :
        typeof(T) == typeof(Half) ? "float16" :
        typeof(T) == typeof(BFloat16) ? "bfloat16" : typeof(T).Name;

    /// <summary>Widens an element to float32 (exact).</summary>
    public static float ToSingle<T>(T value) where T : unmanaged
    {
        if (typeof(T) == typeof(float)) return Unsafe.As<T, float>(ref value);
        if (typeof(T) == typeof(Half)) return (float)Unsafe.As<T, Half>(ref value);
        if (typeof(T) == typeof(BFloat16)) return Unsafe.As<T, BFloat16>(ref value).ToSingle();
        throw new NotSupportedException($"element type {typeof(T).Name} is not supported");
    }

    /// <summary>Rounds a float32 to the element type (nearest, ties to even).</summary>
    public static T FromSingle<T>(float value) where T : unmanaged
    {
        if (typeof(T) == typeof(float)) return Unsafe.As<float, T>(ref value);
        if (typeof(T) == typeof(Half)) { var h = (Half)value; return Unsafe.As<Half, T>(ref h); }
        if (typeof(T) == typeof(BFloat16)) { var b = BFloat16.FromSingle(value); return Unsafe.As<BFloat16, T>(ref b); }
        throw new NotSupportedException($"element type {typeof(T).Name} is not supported");
    }

    /// <summary>Rounds every value of <paramref name="values"/> to the element type.</summary>
    public static T[] FromSingles<T>(ReadOnlySpan<float> values) where T : unmanaged
    {
        var result = new T[values.Length];
        for (int i = 0; i < values.Length; i++)
            result[i] = FromSingle<T>(values[i]);
        return result;
    }
}
