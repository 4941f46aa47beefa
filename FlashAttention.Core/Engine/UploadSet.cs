namespace FlashAttention;

/// <summary>
/// Device copies of the host arrays one call touches: each distinct array is uploaded once (packed
/// tensors share one), and the arrays that hold outputs are copied back after the run. Outputs go
/// up too, so the elements between a strided output's rows survive.
/// </summary>
internal sealed class UploadSet<T>(Accelerator accelerator) : IDisposable where T : unmanaged
{
    private readonly Dictionary<T[], MemoryBuffer1D<T, Stride1D.Dense>> buffers = new(ReferenceEqualityComparer.Instance);
    private readonly HashSet<T[]> outputs = new(ReferenceEqualityComparer.Instance);

    /// <summary>The device view of an input tensor.</summary>
    public DeviceTensor<T> Input(HostTensor<T> tensor) => new(Buffer(tensor.Data).View, tensor.Layout);

    /// <summary>The device view of an output tensor, copied back by <see cref="Download"/>.</summary>
    public DeviceTensor<T> Output(HostTensor<T> tensor)
    {
        outputs.Add(tensor.Data);
        return Input(tensor);
    }

    /// <summary>Copies every output array back to the host (after the accelerator is synchronised).</summary>
    public void Download()
    {
        foreach (var array in outputs)
            buffers[array].View.AsContiguous().CopyToCPU(array.AsSpan());
    }

    private MemoryBuffer1D<T, Stride1D.Dense> Buffer(T[] data)
    {
        if (!buffers.TryGetValue(data, out var buffer))
        {
            buffer = accelerator.Allocate1D<T>(data.LongLength);
            buffer.View.AsContiguous().CopyFromCPU(data.AsSpan());
            buffers.Add(data, buffer);
        }
        return buffer;
    }

    public void Dispose()
    {
        foreach (var buffer in buffers.Values)
            buffer.Dispose();
    }
}
