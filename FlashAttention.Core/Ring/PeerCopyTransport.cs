namespace FlashAttention;

/// <summary>
/// Moves ring blocks from one accelerator's memory straight into the next one's, through the accelerators' own runtime: between
/// CUDA devices one device-to-device copy over unified addressing (with peer access switched on where the pair allows it, so the
/// bytes take one NVLink or PCIe hop instead of two through host memory), between CPU accelerators one memory copy. Pairs of other
/// kinds (CUDA and CPU, OpenCL) take <see cref="HostStagedTransport"/>; <see cref="RingAttention"/> picks this transport by
/// itself where every neighbour pair <see cref="Connects(AcceleratorType, AcceleratorType)"/>.
/// </summary>
public sealed class PeerCopyTransport : IRingTransport
{
    /// <summary>One shared instance (the class keeps no state; peer access, once on, is remembered by the accelerators).</summary>
    public static PeerCopyTransport Instance { get; } = new();

    /// <summary>Whether this transport copies from an accelerator of kind <paramref name="from"/> to one of kind <paramref name="to"/>: both CUDA or both CPU.</summary>
    public static bool Connects(AcceleratorType from, AcceleratorType to) =>
        from == to && from is AcceleratorType.Cuda or AcceleratorType.CPU;

    /// <summary>Whether every neighbour pair of a ring over <paramref name="accelerators"/> (in ring order, the last sending to the first) <see cref="Connects(AcceleratorType, AcceleratorType)"/>.</summary>
    public static bool ConnectsRing(IReadOnlyList<Accelerator> accelerators)
    {
        ArgumentNullException.ThrowIfNull(accelerators);
        for (int i = 0; i < accelerators.Count; i++)
        {
            if (!Connects(accelerators[i].AcceleratorType, accelerators[(i + 1) % accelerators.Count].AcceleratorType))
                return false;
        }
        return true;
    }

    /// <inheritdoc />
    /// <exception cref="NotSupportedException">The two accelerators are of kinds this transport does not connect.</exception>
    public void Copy<TElement>(ArrayView<TElement> source, AcceleratorStream sourceStream, ArrayView<TElement> target, AcceleratorStream targetStream)
        where TElement : unmanaged
    {
        RingCopyArguments.Check(source, sourceStream, target, targetStream);
        var from = sourceStream.Accelerator;
        var to = targetStream.Accelerator;
        if (!Connects(from.AcceleratorType, to.AcceleratorType))
        {
            throw new NotSupportedException(
                $"sourceStream: a {from.AcceleratorType} accelerator cannot copy to a {to.AcceleratorType} one directly; expected both CUDA or both CPU (use {nameof(HostStagedTransport)})");
        }
        if (source.Length == 0)
            return;
        if (!ReferenceEquals(from, to))
        {
            // Without peer access (another kind of link, or two contexts on one device) the driver stages the copy itself: still correct.
            from.EnablePeerAccess(to);
            to.EnablePeerAccess(from);
        }
        // CUDA contexts are current per thread; the copy binds the source's context itself, Bind keeps the thread's current one the same.
        from.Bind();
        source.CopyTo(sourceStream, target);
        sourceStream.Synchronize();
    }
}
