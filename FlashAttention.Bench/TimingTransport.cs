using System.Diagnostics;

namespace FlashAttention.Bench;

/// <summary>
/// Wraps a ring transport and adds up the wall time its copies take (over all threads), so the `ring`
/// command can set it against the step time: copies run beside the compute, so a ring whose time grows
/// by less than its copy time has hidden part of it.
/// </summary>
public sealed class TimingTransport(IRingTransport inner) : IRingTransport
{
    private long ticks;

    /// <summary>The transport that does the copies.</summary>
    public IRingTransport Inner => inner;
    private long bytes;

    /// <summary>Seconds spent in copies since the last <see cref="Reset"/>, summed over every copy.</summary>
    public double Seconds => Interlocked.Read(ref ticks) / (double)Stopwatch.Frequency;

    /// <summary>Bytes copied since the last <see cref="Reset"/>.</summary>
    public long Bytes => Interlocked.Read(ref bytes);

    /// <summary>Starts counting afresh.</summary>
    public void Reset()
    {
        Interlocked.Exchange(ref ticks, 0);
        Interlocked.Exchange(ref bytes, 0);
    }

    /// <inheritdoc />
    public void Copy<TElement>(ArrayView<TElement> source, AcceleratorStream sourceStream, ArrayView<TElement> target, AcceleratorStream targetStream)
        where TElement : unmanaged
    {
        long start = Stopwatch.GetTimestamp();
        inner.Copy(source, sourceStream, target, targetStream);
        Interlocked.Add(ref ticks, Stopwatch.GetTimestamp() - start);
        Interlocked.Add(ref bytes, source.LengthInBytes);
    }
}
