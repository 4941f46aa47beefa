using FlashAttention.Kernels.Portable;

namespace FlashAttention.Tests;

/// <summary>
/// Offsets past 2^31 elements (a 32K-token, 32-head, d-128 batch of 16 passes it) are computed in
/// 64 bits end to end: layouts on the host, strided views in the kernels. Allocating such tensors
/// is beyond CI, so the arithmetic is checked directly.
/// </summary>
public class LargeOffsetTests
{
    [Fact]
    public void Kernel_row_offsets_do_not_wrap()
    {
        var layout = TensorLayout.Bshd(17, 32768, 32, 128); // 17 * 2^27 elements
        long batchStride = layout.BatchStride;
        var view = new StridedTensor<float>(default, batchStride, layout.SeqStride, layout.HeadStride);

        view.RowOffset(16, 32767, 31).Should().Be(16L * batchStride + 32767L * 32 * 128 + 31L * 128);
        (view.RowOffset(16, 32767, 31) + 127).Should().BeGreaterThan(int.MaxValue).And.Be(layout.ElementCount - 1);
    }

    [Fact]
    public void Layout_sizes_do_not_wrap()
    {
        var layout = TensorLayout.Bhsd(16, 32, 32768, 128);
        layout.ElementCount.Should().Be(1L << 31);
        layout.RequiredLength.Should().Be(1L << 31);
        layout.IndexOf(15, 32767, 31, 127).Should().Be((1L << 31) - 1);
        var (q, k, v) = TensorLayout.PackedQkv(16, 32768, 32, 128);
        v.RequiredLength.Should().Be(3L << 31);
        AttentionEngine.BackwardScratchBytes(16, 32, 32768).Should().Be(1L << 26);
    }
}
