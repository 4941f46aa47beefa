using ILGPU;
using ILGPU.Runtime;

namespace FlashAttention.Kernels.Portable;

/// <summary>S = Q K^T for one Br x Bc tile, each thread computing 4 x 4 blocks of it.</summary>
internal static class ScoreTile
{
    /// <summary>
    /// Reads Qt [d][r] and Kt [d][c] and writes S * scaleLog2 transposed into Pt [c][r], the
    /// layout in which the softmax walks a row and the P V product reads four rows at once.
    /// </summary>
    public static void Compute(
        ArrayView<float> qt, int qtStride, ArrayView<float> kt, int ktStride,
        ArrayView<float> pt, int ptStride, int br, int bc, int dimPadded, float scaleLog2)
    {
        int blocksPerRow = bc / 4;
        for (int t = Group.IdxX; t < (br / 4) * blocksPerRow; t += Group.DimX)
        {
            // Consecutive threads take consecutive key columns of the same query rows, so the
            // Q reads of a warp are broadcasts.
            int r0 = (t / blocksPerRow) * 4;
            int c0 = (t - (t / blocksPerRow) * blocksPerRow) * 4;
            var acc = new MicroTile4x4();
            // Four steps per iteration (head dims are multiples of 32): ILGPU does not unroll, and
            // straight-line steps let ptxas issue the next loads before the current FMAs.
            for (int d = 0; d < dimPadded; d += 4)
            {
                acc.AccumulateOuter(qt, d * qtStride + r0, kt, d * ktStride + c0);
                acc.AccumulateOuter(qt, (d + 1) * qtStride + r0, kt, (d + 1) * ktStride + c0);
                acc.AccumulateOuter(qt, (d + 2) * qtStride + r0, kt, (d + 2) * ktStride + c0);
                acc.AccumulateOuter(qt, (d + 3) * qtStride + r0, kt, (d + 3) * ktStride + c0);
            }
            acc.StoreTransposed(pt, c0 * ptStride + r0, ptStride, scaleLog2);
        }
    }
}
