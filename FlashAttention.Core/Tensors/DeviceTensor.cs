using FlashAttention.Kernels.Portable;

namespace FlashAttention;

/// <summary>
/// A logical [batch, seqlen, heads, headdim] tensor in accelerator memory: any ILGPU view (a
/// buffer of your own included, no copy) with a <see cref="TensorLayout"/>.
/// </summary>
/// <typeparam name="T">float, <see cref="Half"/> or <see cref="BFloat16"/>.</typeparam>
/// <param name="View">The elements; <see cref="TensorLayout.Offset"/> counts from its start.</param>
/// <param name="Layout">Where the elements sit in <paramref name="View"/>.</param>
public readonly record struct DeviceTensor<T>(ArrayView<T> View, TensorLayout Layout) where T : unmanaged
{
    /// <summary>Wraps a contiguous [batch, seqlen, heads, headdim] view.</summary>
    public static DeviceTensor<T> Bshd(ArrayView<T> view, int batch, int seqLen, int heads, int headDim) =>
        new(view, TensorLayout.Bshd(batch, seqLen, heads, headDim));

    /// <summary>Wraps a contiguous [batch, heads, seqlen, headdim] view.</summary>
    public static DeviceTensor<T> Bhsd(ArrayView<T> view, int batch, int heads, int seqLen, int headDim) =>
        new(view, TensorLayout.Bhsd(batch, heads, seqLen, headDim));

    internal StridedTensor<T> ToKernel() => new(
        View.SubView(Layout.Offset, View.Length - Layout.Offset),
        Layout.BatchStride, Layout.SeqStride, Layout.HeadStride);
}
