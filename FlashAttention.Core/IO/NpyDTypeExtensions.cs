namespace FlashAttention.IO;

/// <summary>The .npy spelling and size of each <see cref="NpyDType"/>.</summary>
public static class NpyDTypeExtensions
{
    /// <summary>The descr string NumPy writes for the type, e.g. '&lt;f4'.</summary>
    public static string Descr(this NpyDType dtype) => dtype switch
    {
        NpyDType.Float32 => "<f4",
        NpyDType.Float16 => "<f2",
        NpyDType.UInt16 => "<u2",
        NpyDType.Int32 => "<i4",
        NpyDType.Bool => "|b1",
        NpyDType.Float64 => "<f8",
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, null),
    };

    /// <summary>Bytes per element.</summary>
    public static int ItemSize(this NpyDType dtype) => dtype switch
    {
        NpyDType.Float32 or NpyDType.Int32 => 4,
        NpyDType.Float16 or NpyDType.UInt16 => 2,
        NpyDType.Bool => 1,
        NpyDType.Float64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, null),
    };

    /// <summary>The NumPy name of the type: float32, float16, uint16, int32, bool or float64.</summary>
    public static string Name(this NpyDType dtype) => dtype switch
    {
        NpyDType.Float32 => "float32",
        NpyDType.Float16 => "float16",
        NpyDType.UInt16 => "uint16",
        NpyDType.Int32 => "int32",
        NpyDType.Bool => "bool",
        NpyDType.Float64 => "float64",
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, null),
    };

    /// <summary>The type a descr names, or null when it is not one of the supported ones.</summary>
    public static NpyDType? FromDescr(string descr) => descr switch
    {
        "<f4" => NpyDType.Float32,
        "<f2" => NpyDType.Float16,
        "<u2" => NpyDType.UInt16,
        "<i4" => NpyDType.Int32,
        "|b1" => NpyDType.Bool,
        "<f8" => NpyDType.Float64,
        _ => null,
    };
}
