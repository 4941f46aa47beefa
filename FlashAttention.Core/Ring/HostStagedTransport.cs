using System.Buffers;

namespace FlashAttention;

/// <summary>
/// Moves ring blocks through host memory: device to host on the source's stream, host to device on the
/// target's. Works between any accelerators ILGPU runs (the CPU accelerators of the tests included);
/// on GPUs it costs two PCIe crossings where a peer copy needs one NVLink hop.
/// </summary>
public sealed class HostStagedTransport : IRingTransport
{
    // Pieces of at most 16 Mi elements: a rented staging array stays small, and no span passes int.MaxValue.
    private const int PieceElements = 1 << 24;

    /// <summary>One shared instance (the class keeps no state).</summary>
    public static HostStagedTransport Instance { get; } = new();

    /// <inheritdoc />
    public void Copy<TElement>(ArrayView<TElement> source, AcceleratorStream sourceStream, ArrayView<TElement> target, AcceleratorStream targetStream)
        where TElement : unmanaged
    {
        RingCopyArguments.Check(source, sourceStream, target, targetStream);
        if (source.Length == 0)
            return;
        var staging = ArrayPool<TElement>.Shared.Rent((int)Math.Min(source.Length, PieceElements));
        try
        {
            for (long at = 0; at < source.Length; at += PieceElements)
            {
                int count = (int)Math.Min(PieceElements, source.Length - at);
                var span = staging.AsSpan(0, count);
                // CUDA contexts are current per thread, and ILGPU's copies do not make theirs current (ILGPU issue 705).
                sourceStream.Accelerator.Bind();
                ((ArrayView1D<TElement, Stride1D.Dense>)source.SubView(at, count)).CopyToCPU(sourceStream, span);
                sourceStream.Synchronize();
                targetStream.Accelerator.Bind();
                ((ArrayView1D<TElement, Stride1D.Dense>)target.SubView(at, count)).CopyFromCPU(targetStream, (ReadOnlySpan<TElement>)span);
                targetStream.Synchronize();
            }
        }
        finally
        {
            ArrayPool<TElement>.Shared.Return(staging);
        }
    }
}
