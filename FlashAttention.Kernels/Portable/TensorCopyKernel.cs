using FlashAttention.Kernels.Numerics;

namespace FlashAttention.Kernels.Portable;

/// <summary>
/// Copies a [batch, seqlen, heads, headdim] tensor between any two layouts, converting the element
/// type through float32 (exact when both are the same type, or when widening). Ring attention moves
/// a caller's shard into its sequence-major key/value slots with it, and its float32 results (outputs,
/// gradients, LSE rows as a head dim of 1) into the caller's tensors. One thread per element.
/// </summary>
public static class TensorCopyKernel
{
    /// <summary>grid x covers batch * seqlen * heads * headdim elements.</summary>
    public static void Run<TSource, TSourceOps, TTarget, TTargetOps>(TensorCopyParams<TSource, TTarget> p)
        where TSource : unmanaged
        where TSourceOps : struct, IElementOps<TSource>
        where TTarget : unmanaged
        where TTargetOps : struct, IElementOps<TTarget>
    {
        long idx = Grid.GlobalIndex.X;
        long perRow = (long)p.Heads * p.HeadDim;
        long perItem = p.SeqLen * perRow;
        if (idx >= p.Batch * perItem)
            return;
        int batch = (int)(idx / perItem);
        long rest = idx - batch * perItem;
        int row = (int)(rest / perRow);
        rest -= row * perRow;
        int head = (int)(rest / p.HeadDim);
        int d = (int)(rest - (long)head * p.HeadDim);
        float x = default(TSourceOps).ToFloat(p.Source.Data[p.Source.RowOffset(batch, row, head) + d]);
        p.Target.Data[p.Target.RowOffset(batch, row, head) + d] = default(TTargetOps).FromFloat(x);
    }
}

/// <summary>The inputs and output of <see cref="TensorCopyKernel.Run{TSource, TSourceOps, TTarget, TTargetOps}"/>.</summary>
public struct TensorCopyParams<TSource, TTarget>
    where TSource : unmanaged
    where TTarget : unmanaged
{
    /// <summary>Read.</summary>
    public StridedTensor<TSource> Source;

    /// <summary>Written.</summary>
    public StridedTensor<TTarget> Target;

    /// <summary>Batch items.</summary>
    public int Batch;

    /// <summary>Sequence positions.</summary>
    public int SeqLen;

    /// <summary>Heads.</summary>
    public int Heads;

    /// <summary>Head dim.</summary>
    public int HeadDim;
}
