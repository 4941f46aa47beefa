namespace FlashAttention.Kernels.TensorCore;

/// <summary>
/// One warp computes D = A B + C for a 16 x 16 A (row-major fp16 bits) and a 16 x 8 B ([k][n], fp16
/// bits) through <see cref="Mma"/>: the check that fragment layouts and the CPU emulation agree with
/// a plain matrix product, and that the CUDA path assembles to mma.sync.
/// </summary>
public static class MmaProbeKernel
{
    /// <summary>Launch with one group of 32 threads. <paramref name="d"/> holds C on entry, [16][8] row-major.</summary>
    public static void Run<TTarget>(ArrayView<ushort> a, ArrayView<ushort> b, ArrayView<float> d)
        where TTarget : struct, ITensorCoreTarget
    {
        int lane = Warp.LaneIdx;
        int g = lane >> 2;
        int q = lane & 3;
        var fa = new FragmentA
        {
            A0 = Mma.Pack(a[g * 16 + 2 * q], a[g * 16 + 2 * q + 1]),
            A1 = Mma.Pack(a[(g + 8) * 16 + 2 * q], a[(g + 8) * 16 + 2 * q + 1]),
            A2 = Mma.Pack(a[g * 16 + 2 * q + 8], a[g * 16 + 2 * q + 9]),
            A3 = Mma.Pack(a[(g + 8) * 16 + 2 * q + 8], a[(g + 8) * 16 + 2 * q + 9]),
        };
        var fb = new FragmentB
        {
            B0 = Mma.Pack(b[2 * q * 8 + g], b[(2 * q + 1) * 8 + g]),
            B1 = Mma.Pack(b[(2 * q + 8) * 8 + g], b[(2 * q + 9) * 8 + g]),
        };
        var acc = new FragmentC { C0 = d[g * 8 + 2 * q], C1 = d[g * 8 + 2 * q + 1], C2 = d[(g + 8) * 8 + 2 * q], C3 = d[(g + 8) * 8 + 2 * q + 1] };
        Mma.MultiplyAccumulate<TTarget, Float16Mma>(ref acc, fa, fb, WarpExchange.Allocate<TTarget>());
        d[g * 8 + 2 * q] = acc.C0;
        d[g * 8 + 2 * q + 1] = acc.C1;
        d[(g + 8) * 8 + 2 * q] = acc.C2;
        d[(g + 8) * 8 + 2 * q + 1] = acc.C3;
    }
}
