using ILGPU;
using ILGPU.Runtime;

namespace FlashAttention.Kernels.Portable;

/// <summary>
/// A [batch, seqlen, heads, headdim] tensor as a kernel sees it: a view that starts at element
/// (0, 0, 0, 0) and three element strides; headdim is contiguous. Offsets are 64-bit because
/// batch * seqlen * heads * headdim passes 2^31 at long contexts.
/// </summary>
public struct StridedTensor<T> where T : unmanaged
{
    /// <summary>The elements, starting at (0, 0, 0, 0).</summary>
    public ArrayView<T> Data;

    /// <summary>Elements between consecutive batch items.</summary>
    public long BatchStride;

    /// <summary>Elements between consecutive sequence positions.</summary>
    public long RowStride;

    /// <summary>Elements between consecutive heads.</summary>
    public long HeadStride;

    /// <summary>
    /// The device address of element (0, 0, 0, 0), for kernels that address memory in inline PTX
    /// (cp.async); set by the tensor-core launcher on CUDA, 0 elsewhere.
    /// </summary>
    public ulong Address;

    /// <summary>Makes a view.</summary>
    public StridedTensor(ArrayView<T> data, long batchStride, long rowStride, long headStride)
    {
        Data = data;
        BatchStride = batchStride;
        RowStride = rowStride;
        HeadStride = headStride;
    }

    /// <summary>The element offset of (batch, row, head, 0).</summary>
    public readonly long RowOffset(int batch, int row, int head) =>
        batch * BatchStride + row * RowStride + head * HeadStride;
}
