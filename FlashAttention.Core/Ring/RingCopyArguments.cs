namespace FlashAttention;

/// <summary>The argument checks every <see cref="IRingTransport.Copy{TElement}"/> makes before it moves anything.</summary>
internal static class RingCopyArguments
{
    /// <summary>Throws for a missing stream or a target whose length is not the source's.</summary>
    public static void Check<TElement>(ArrayView<TElement> source, AcceleratorStream sourceStream, ArrayView<TElement> target, AcceleratorStream targetStream)
        where TElement : unmanaged
    {
        ArgumentNullException.ThrowIfNull(sourceStream);
        ArgumentNullException.ThrowIfNull(targetStream);
        if (source.Length != target.Length)
            throw new ArgumentException($"target: length is {target.Length}; expected the source's {source.Length}", nameof(target));
    }
}
