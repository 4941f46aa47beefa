namespace FlashAttention;

/// <summary>
/// One device's memory during a ring call: its query chunks, the two key/value slots that alternate
/// between "being computed on" and "being received into" (double buffering), and the float32 state
/// each pass keeps. Also its two transfer streams: one it sends on, one it receives on, so that the
/// two copies a step makes on one accelerator never share a stream. Disposing frees all of it.
/// </summary>
internal sealed class RingDevice : IDisposable
{
    private readonly List<MemoryBuffer> owned = [];

    public RingDevice(AttentionEngine engine, IReadOnlyList<RingChunk> chunks)
    {
        Engine = engine;
        Chunks = chunks;
        Bind();
        SendStream = engine.Accelerator.CreateStream();
        ReceiveStream = engine.Accelerator.CreateStream();
    }

    public AttentionEngine Engine { get; }

    public Accelerator Accelerator => Engine.Accelerator;

    /// <summary>This device's chunks (its shard, in sequence order).</summary>
    public IReadOnlyList<RingChunk> Chunks { get; }

    /// <summary>The stream this device's outgoing copies use.</summary>
    public AcceleratorStream SendStream { get; }

    /// <summary>The stream this device's incoming copies use.</summary>
    public AcceleratorStream ReceiveStream { get; }

    /// <summary>
    /// Makes this device's CUDA context current on the calling thread (a no-op elsewhere): the ring drives
    /// its devices from several threads, and ILGPU's copies and launches do not bind the context themselves.
    /// </summary>
    public void Bind() => Accelerator.Bind();

    /// <summary>A buffer of at least one element (ILGPU views of empty shards stay valid), freed with the device.</summary>
    public ArrayView<TElement> Allocate<TElement>(long length) where TElement : unmanaged
    {
        Bind();
        var buffer = Accelerator.Allocate1D<TElement>(Math.Max(1, length));
        owned.Add(buffer);
        return buffer.View;
    }

    /// <summary>A buffer holding <paramref name="data"/> (at least one element).</summary>
    public ArrayView<TElement> Upload<TElement>(TElement[] data) where TElement : unmanaged
    {
        var view = Allocate<TElement>(data.LongLength);
        if (data.Length > 0)
            ((ArrayView1D<TElement, Stride1D.Dense>)view.SubView(0, data.LongLength)).CopyFromCPU(data);
        return view;
    }

    /// <summary>
    /// The two key (or value) slots of <paramref name="slotElements"/> each, slot 0 holding this device's
    /// own shard <paramref name="home"/> (<paramref name="length"/> positions) in the ring's sequence-major layout.
    /// </summary>
    public ArrayView<TElement>[] Slots<TElement>(DeviceTensor<TElement> home, RingShape shape, int length, long slotElements)
        where TElement : unmanaged
    {
        ArrayView<TElement>[] slots = [Allocate<TElement>(slotElements), Allocate<TElement>(slotElements)];
        if (length > 0)
            Engine.CopyTensor(home, new DeviceTensor<TElement>(slots[0], shape.Keys(length)));
        return slots;
    }

    /// <summary>A float32 buffer of <paramref name="length"/> elements, all <paramref name="value"/>.</summary>
    public ArrayView<float> Filled(long length, float value)
    {
        var data = new float[Math.Max(1, length)];
        Array.Fill(data, value);
        return Upload(data);
    }

    public void Dispose()
    {
        foreach (var buffer in owned)
            buffer.Dispose();
        SendStream.Dispose();
        ReceiveStream.Dispose();
    }
}
