using FlashAttention.Kernels.Launch;
using FlashAttention.Kernels.Portable;

namespace FlashAttention;

public sealed partial class AttentionEngine
{
    private WidenLauncher? widenLauncher;

    /// <summary>
    /// target[0..count) = (or, with <paramref name="add"/>, +=) float32(source[0..count)), on the default
    /// stream: how <see cref="RingAttention"/> turns a block's stored output or gradient into the float32
    /// it folds or sums. Both views on this engine's accelerator, checked by the caller.
    /// </summary>
    internal void Widen<T>(ArrayView<T> source, ArrayView<float> target, long count, bool add) where T : unmanaged
    {
        ThrowIfDisposed();
        widenLauncher ??= new WidenLauncher(Accelerator, backendProfile);
        widenLauncher.Launch(Accelerator.DefaultStream, new WidenParams<T>
        {
            Source = source.SubView(0, count), Target = target.SubView(0, count), Count = count, Add = add ? 1 : 0,
        });
    }

    /// <summary>
    /// Copies <paramref name="source"/> into <paramref name="target"/> (same logical shape, any layouts, on
    /// this accelerator), converting the element type through float32; on the default stream. Checked by the caller.
    /// </summary>
    internal void CopyTensor<TSource, TTarget>(DeviceTensor<TSource> source, DeviceTensor<TTarget> target)
        where TSource : unmanaged
        where TTarget : unmanaged
    {
        ThrowIfDisposed();
        var l = source.Layout;
        widenLauncher ??= new WidenLauncher(Accelerator, backendProfile);
        widenLauncher.Copy(Accelerator.DefaultStream, new TensorCopyParams<TSource, TTarget>
        {
            Source = source.ToKernel(), Target = target.ToKernel(), Batch = l.Batch, SeqLen = l.SeqLen, Heads = l.Heads, HeadDim = l.HeadDim,
        });
    }

    /// <summary>
    /// Throws what a forward (and, with <paramref name="backward"/>, a backward) call with these options and
    /// head dim would throw for its kernel choice, launching nothing: the ring checks every device before any starts.
    /// </summary>
    internal void CheckPlan<T>(int headDim, AttentionOptions options, bool backward) where T : unmanaged
    {
        ThrowIfDisposed();
        if (backward)
            BackwardTileFor(headDim, options);
        else
            PlanForward<T>(headDim, options);
    }
}
