namespace FlashAttention;

/// <summary>
/// How <see cref="RingAttention"/> moves a block of memory from one accelerator to the next in the ring.
/// <see cref="PeerCopyTransport"/> copies device to device (CUDA to CUDA, with peer access where the pair allows it, or CPU to
/// CPU); <see cref="HostStagedTransport"/> goes through host memory and works between any two accelerators.
/// </summary>
public interface IRingTransport
{
    /// <summary>
    /// Copies <paramref name="source"/> into <paramref name="target"/> (same length, on different
    /// accelerators); the target holds the data when the call returns. The ring calls this from several
    /// threads at once, never with the same stream on two threads.
    /// </summary>
    /// <param name="source">The elements to send.</param>
    /// <param name="sourceStream">A stream of the source's accelerator, reserved for this copy.</param>
    /// <param name="target">Where they go.</param>
    /// <param name="targetStream">A stream of the target's accelerator, reserved for this copy.</param>
    void Copy<TElement>(ArrayView<TElement> source, AcceleratorStream sourceStream, ArrayView<TElement> target, AcceleratorStream targetStream)
        where TElement : unmanaged;
}
