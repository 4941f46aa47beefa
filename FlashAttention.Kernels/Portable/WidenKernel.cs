using FlashAttention.Kernels.Numerics;

namespace FlashAttention.Kernels.Portable;

/// <summary>
/// Widens a contiguous run of stored elements to float32, replacing or adding to a float32 target.
/// Ring attention needs it twice: a block's output (stored as T by the forward kernel) has to be float32
/// before <see cref="PartialMergeKernel.Fold"/> takes it, and the backward's per-block dQ, dK, dV
/// (also stored as T) are summed over blocks in float32 so that only the final result is rounded
/// to T once more. One thread per element.
/// </summary>
public static class WidenKernel
{
    /// <summary>grid x covers <see cref="WidenParams{T}.Count"/> elements.</summary>
    public static void Run<T, TOps>(WidenParams<T> p)
        where T : unmanaged
        where TOps : struct, IElementOps<T>
    {
        long i = Grid.GlobalIndex.X;
        if (i >= p.Count)
            return;
        float x = default(TOps).ToFloat(p.Source[i]);
        p.Target[i] = p.Add != 0 ? p.Target[i] + x : x;
    }
}

/// <summary>The inputs and output of <see cref="WidenKernel.Run{T, TOps}"/>.</summary>
public struct WidenParams<T> where T : unmanaged
{
    /// <summary>The stored elements, read from index 0.</summary>
    public ArrayView<T> Source;

    /// <summary>float32, written (or added to) from index 0.</summary>
    public ArrayView<float> Target;

    /// <summary>Elements.</summary>
    public long Count;

    /// <summary>1: Target += Source; 0: Target = Source.</summary>
    public int Add;
}
