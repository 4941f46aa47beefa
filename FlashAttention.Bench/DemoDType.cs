namespace FlashAttention.Bench;

/// <summary>The element types <c>demo</c> can run.</summary>
public enum DemoDType
{
    /// <summary>float.</summary>
    Float32,

    /// <summary>ILGPU.Half.</summary>
    Float16,

    /// <summary>FlashAttention.BFloat16.</summary>
    BFloat16,
}
