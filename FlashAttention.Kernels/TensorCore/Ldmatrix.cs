using ILGPU.Runtime.Cuda;

namespace FlashAttention.Kernels.TensorCore;

/// <summary>Four 32-bit registers, as ldmatrix .x4 returns them (each holds two 16-bit elements).</summary>
public struct Fragment4
{
    /// <summary>Register i holds this lane's elements of matrix i.</summary>
    public uint R0, R1, R2, R3;
}

/// <summary>
/// ldmatrix.sync.aligned.m8n8.x4(.trans).shared.b16: a warp loads four 8 x 8 matrices of 16-bit
/// elements from shared memory straight into mma fragments. Lanes 8i .. 8i+7 each name one row of
/// matrix i (an element offset into the dynamic shared buffer); lane L receives, of matrix i,
/// row L/4, columns 2(L%4) and 2(L%4)+1, or with .trans column L/4 of rows 2(L%4) and 2(L%4)+1.
/// On CUDA this is one instruction; elsewhere every lane reads its rows' offsets, as the naming lanes
/// posted them on a <see cref="WarpExchange"/>, and reads the elements itself. Every lane of the warp must call it.
/// </summary>
public static class Ldmatrix
{
    /// <summary>
    /// The x4 load. <paramref name="dynamicShared"/> is the whole dynamic shared buffer
    /// (SharedMemory.GetDynamic&lt;ushort&gt;()), which on CUDA starts at ILGPU's __dyn_shared_alloca;
    /// <paramref name="rowOffset"/> is this lane's row, in elements, 16-byte aligned; <paramref name="exchange"/> the
    /// group's board (<see cref="WarpExchange.Allocate{TTarget}"/>), used off CUDA only.
    /// </summary>
    public static Fragment4 X4<TTarget>(ArrayView<ushort> dynamicShared, int rowOffset, bool transpose, in WarpExchange exchange)
        where TTarget : struct, ITensorCoreTarget
    {
        if (default(TTarget).EmitsPtx)
        {
            Ref<uint> r0 = 0u, r1 = 0u, r2 = 0u, r3 = 0u;
            Ref<uint> bytes = (uint)(rowOffset * 2);
            if (transpose)
                CudaAsm.EmitRef(
                    "{ .reg .u64 t; .reg .u32 a; mov.u64 t, __dyn_shared_alloca; cvt.u32.u64 a, t; add.u32 a, a, %4; " +
                    "ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [a]; }",
                    ref r0, ref r1, ref r2, ref r3, ref bytes);
            else
                CudaAsm.EmitRef(
                    "{ .reg .u64 t; .reg .u32 a; mov.u64 t, __dyn_shared_alloca; cvt.u32.u64 a, t; add.u32 a, a, %4; " +
                    "ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [a]; }",
                    ref r0, ref r1, ref r2, ref r3, ref bytes);
            return new Fragment4 { R0 = r0.Value, R1 = r1.Value, R2 = r2.Value, R3 = r3.Value };
        }
        exchange.Post(0, (uint)rowOffset);
        WarpExchange.Meet();
        var fragment = new Fragment4
        {
            R0 = Emulate(dynamicShared, exchange, 0, transpose),
            R1 = Emulate(dynamicShared, exchange, 1, transpose),
            R2 = Emulate(dynamicShared, exchange, 2, transpose),
            R3 = Emulate(dynamicShared, exchange, 3, transpose),
        };
        WarpExchange.Meet();
        return fragment;
    }

    private static uint Emulate(ArrayView<ushort> shared, in WarpExchange rows, int matrix, bool transpose)
    {
        int lane = Warp.LaneIdx;
        int pair = (lane & 3) * 2;
        if (!transpose)
        {
            int row = (int)rows.Read(matrix * 8 + (lane >> 2), 0);
            return Mma.Pack(shared[row + pair], shared[row + pair + 1]);
        }
        int first = (int)rows.Read(matrix * 8 + pair, 0);
        int second = (int)rows.Read(matrix * 8 + pair + 1, 0);
        return Mma.Pack(shared[first + (lane >> 2)], shared[second + (lane >> 2)]);
    }
}
