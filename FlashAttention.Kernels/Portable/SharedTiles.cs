namespace FlashAttention.Kernels.Portable;

/// <summary>
/// Where a kernel's tiles live. CUDA needs dynamic shared memory (above 48 KB only that can be
/// raised); ILGPU's OpenCL backend keeps the dynamic buffer's address in a program-scope variable
/// that every running work-group overwrites, which races on devices that run groups concurrently
/// in one address space (PoCL), so OpenCL takes a static allocation sized at compile time.
/// </summary>
public interface ISharedTiles
{
    /// <summary>The group's shared buffer of <paramref name="floats"/> floats (a compile-time constant).</summary>
    ArrayView<float> Floats(int floats);
}

/// <summary>Dynamic shared memory, sized by the launch (CUDA, CPU).</summary>
public readonly struct DynamicSharedTiles : ISharedTiles
{
    /// <inheritdoc />
    public ArrayView<float> Floats(int floats) => SharedMemory.GetDynamic<float>();
}

/// <summary>Static shared memory, sized when the kernel compiles (OpenCL).</summary>
public readonly struct StaticSharedTiles : ISharedTiles
{
    /// <inheritdoc />
    public ArrayView<float> Floats(int floats) => SharedMemory.Allocate<float>(floats);
}
