namespace FlashAttention;

/// <summary>Uploads host tensors for one call, once per distinct backing array, and frees them after.</summary>
internal sealed class UploadSet<T>(Accelerator accelerator) : IDisposable where T : unmanaged
{
    private readonly Dictionary<T[], MemoryBuffer1D<T, Stride1D.Dense>> buffers = new(ReferenceEqualityComparer.Instance);

    public DeviceTensor<T> Get(HostTensor<T> tensor)
    {
        if (!buffers.TryGetValue(tensor.Data, out var buffer))
        {
            buffer = accelerator.Allocate1D<T>(tensor.Data.LongLength);
            buffer.View.AsContiguous().CopyFromCPU(tensor.Data.AsSpan());
            buffers.Add(tensor.Data, buffer);
        }
        return new DeviceTensor<T>(buffer.View, tensor.Layout);
    }

    public void Dispose()
    {
        foreach (var buffer in buffers.Values)
            buffer.Dispose();
    }
}
