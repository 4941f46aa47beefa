namespace FlashAttention.IO;

/// <summary>The element types a .npy file may hold here; all little-endian.</summary>
public enum NpyDType
{
    /// <summary>float32, descr '&lt;f4'.</summary>
    Float32,

    /// <summary>float16, descr '&lt;f2'; read as <see cref="ILGPU.Half"/>.</summary>
    Float16,

    /// <summary>uint16, descr '&lt;u2'; also how bfloat16 bits are stored, since NumPy has no bfloat16.</summary>
    UInt16,

    /// <summary>int32, descr '&lt;i4'.</summary>
    Int32,

    /// <summary>bool, descr '|b1', one byte per element.</summary>
    Bool,

    /// <summary>float64, descr '&lt;f8'.</summary>
    Float64,
}
