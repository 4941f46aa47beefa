namespace FlashAttention.Kernels.TensorCore;

/// <summary>
/// One warpgroup runs the two wgmma products of the forward on 64 x 64 fp16 tiles: S = Q K^T (both
/// operands from the swizzled shared tiles) and O = fp16(S) V (the A operand from registers, V read
/// MN-major). It checks the descriptors, the swizzle and the fragment layouts against a plain product,
/// on CUDA (sm_90a) and through the emulation.
/// </summary>
public static class WgmmaProbeKernel
{
    /// <summary>Launch with one group of 128 threads and 3 x 4096 + 512 ushorts of dynamic shared memory. Inputs are [64][64] row-major.</summary>
    public static void Run<TTarget>(ArrayView<ushort> q, ArrayView<ushort> k, ArrayView<ushort> v, ArrayView<float> s, ArrayView<float> o)
        where TTarget : struct, ITensorCoreTarget
    {
        WgmmaOutput.Declare<TTarget>();
        var shared = SharedMemory.GetDynamic<ushort>();
        int sharedBase = Wgmma.SharedBase<TTarget>();
        int qBase = Wgmma.AlignedStart(sharedBase);
        int kBase = qBase + Swizzle128.BlockElements;
        int vBase = kBase + Swizzle128.BlockElements;
        for (int i = Group.IdxX; i < 64 * 64; i += Group.DimX)
        {
            int row = i >> 6, col = i & 63;
            shared[qBase + Swizzle128.Offset(row, col, 64)] = q[i];
            shared[kBase + Swizzle128.Offset(row, col, 64)] = k[i];
            shared[vBase + Swizzle128.Offset(row, col, 64)] = v[i];
        }
        Wgmma.FenceSharedWrites<TTarget>();
        Group.Barrier();

        Tile8 scores = default;
        Wgmma.Scores<TTarget, Float16Mma>(ref scores, shared, sharedBase, qBase, kBase, 64);
        Store(s, scores);
        var p = ProbabilityFragments.From<TTarget, Float16Mma>(scores, 64);
        var output = WgmmaOutput.Start<TTarget>(64);
        output.Accumulate<TTarget, Float16Mma>(p, shared, sharedBase, vBase, 64, WarpExchange.Allocate<TTarget>());
        output.ReadOut<TTarget>(64);
        Store(o, output.O0);
    }

    private static void Store(ArrayView<float> target, in Tile8 t)
    {
        int row = 16 * (Group.IdxX >> 5) + (Warp.LaneIdx >> 2);
        int col = 2 * (Warp.LaneIdx & 3);
        Store(target, t.N0, row, col);
        Store(target, t.N1, row, col + 8);
        Store(target, t.N2, row, col + 16);
        Store(target, t.N3, row, col + 24);
        Store(target, t.N4, row, col + 32);
        Store(target, t.N5, row, col + 40);
        Store(target, t.N6, row, col + 48);
        Store(target, t.N7, row, col + 56);
    }

    private static void Store(ArrayView<float> target, in FragmentC c, int row, int col)
    {
        target[row * 64 + col] = c.C0;
        target[row * 64 + col + 1] = c.C1;
        target[(row + 8) * 64 + col] = c.C2;
        target[(row + 8) * 64 + col + 1] = c.C3;
    }
}
