using System.Runtime.InteropServices;
using FlashAttention.Kernels.Portable;

namespace FlashAttention;

public sealed partial class AttentionEngine
{
    // The block mask on the device, reused between calls (one byte at least, so kernels always get a real view).
    private MemoryBuffer1D<byte, Stride1D.Dense>? blockMaskBuffer;

    private BlockSparsity BlocksOf(AttentionOptions options, TensorLayout q, int seqLenK)
    {
        var m = options.BlockMask;
        var view = Upload(ref blockMaskBuffer, m is null ? [] : MemoryMarshal.Cast<bool, byte>(m.Blocks), m?.Blocks.LongLength ?? 1);
        if (m is null)
            return new BlockSparsity { Blocks = view, HiddenRows = view, BlockSizeQ = 1, BlockSizeK = 1 };
        long plane = (long)m.QueryBlocks * m.KeyBlocks;
        return new BlockSparsity
        {
            Active = 1,
            Blocks = view,
            HiddenRows = view,
            HeadStride = m.Heads > 1 ? plane : 0,
            BatchStride = m.Batch > 1 ? plane * m.Heads : 0,
            KeyBlocks = m.KeyBlocks,
            BlockSizeQ = m.BlockSizeQ,
            BlockSizeK = m.BlockSizeK,
            KeyShift = int.IsPow2(m.BlockSizeK) ? System.Numerics.BitOperations.Log2((uint)m.BlockSizeK) : -1,
        };
    }
}
