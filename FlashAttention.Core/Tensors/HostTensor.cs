namespace FlashAttention;

/// <summary>A logical [batch, seqlen, heads, headdim] tensor in a host array, with any <see cref="TensorLayout"/>.</summary>
/// <typeparam name="T">float, <see cref="Half"/> or <see cref="BFloat16"/>.</typeparam>
public sealed class HostTensor<T> where T : unmanaged
{
    /// <summary>Wraps <paramref name="data"/> (not copied) with <paramref name="layout"/>.</summary>
    public HostTensor(T[] data, TensorLayout layout)
    {
        ArgumentNullException.ThrowIfNull(data);
        Data = data;
        Layout = layout;
    }

    /// <summary>The backing array (several tensors may share one, e.g. packed qkv).</summary>
    public T[] Data { get; }

    /// <summary>Where the elements sit in <see cref="Data"/>.</summary>
    public TensorLayout Layout { get; }

    /// <summary>A new zero-filled contiguous [batch, seqlen, heads, headdim] tensor.</summary>
    public static HostTensor<T> Zeros(int batch, int seqLen, int heads, int headDim) =>
        new(new T[(long)batch * seqLen * heads * headDim], TensorLayout.Bshd(batch, seqLen, heads, headDim));

    /// <summary>Wraps contiguous [batch, seqlen, heads, headdim] data.</summary>
    public static HostTensor<T> Bshd(T[] data, int batch, int seqLen, int heads, int headDim) =>
        new(data, TensorLayout.Bshd(batch, seqLen, heads, headDim));

    /// <summary>Wraps contiguous [batch, heads, seqlen, headdim] data.</summary>
    public static HostTensor<T> Bhsd(T[] data, int batch, int heads, int seqLen, int headDim) =>
        new(data, TensorLayout.Bhsd(batch, heads, seqLen, headDim));

    /// <summary>Element (b, s, h, d).</summary>
    public T this[int b, int s, int h, int d]
    {
        get => Data[Layout.IndexOf(b, s, h, d)];
        set => Data[Layout.IndexOf(b, s, h, d)] = value;
    }
}
