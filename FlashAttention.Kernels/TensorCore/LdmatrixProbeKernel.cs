namespace FlashAttention.Kernels.TensorCore;

/// <summary>
/// One warp stages a 16 x 16 tile of 16-bit elements (row-major, row stride 24 elements to keep
/// rows 16-byte aligned and apart) in dynamic shared memory and loads it with ldmatrix .x4, the
/// lanes naming the rows in the order an m16n8k16 A fragment needs them; writes each lane's four
/// registers, [lane][4].
/// </summary>
public static class LdmatrixProbeKernel
{
    /// <summary>Row stride of the staged tile, in elements.</summary>
    public const int Stride = 24;

    /// <summary>Launch with one group of 32 threads and 16 * <see cref="Stride"/> ushorts of dynamic shared memory.</summary>
    public static void Run<TTarget>(ArrayView<ushort> tile, ArrayView<uint> registers, int transpose)
        where TTarget : struct, ITensorCoreTarget
    {
        var shared = SharedMemory.GetDynamic<ushort>();
        int lane = Warp.LaneIdx;
        for (int i = lane; i < 256; i += 32)
            shared[(i / 16) * Stride + (i % 16)] = tile[i];
        Group.Barrier();
        // Matrix 0: rows 0-7, cols 0-7; 1: rows 8-15, cols 0-7; 2: rows 0-7, cols 8-15; 3: rows 8-15, cols 8-15.
        int matrix = lane / 8;
        int row = (lane % 8) + (matrix & 1) * 8;
        int col = (matrix >> 1) * 8;
        var f = Ldmatrix.X4<TTarget>(shared, row * Stride + col, transpose != 0, WarpExchange.Allocate<TTarget>());
        registers[lane * 4] = f.R0;
        registers[lane * 4 + 1] = f.R1;
        registers[lane * 4 + 2] = f.R2;
        registers[lane * 4 + 3] = f.R3;
    }
}
