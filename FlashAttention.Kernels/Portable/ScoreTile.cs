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
            var acc = Dot(qt, qtStride, r0, kt, ktStride, c0, 0, dimPadded);
            acc.StoreTransposed(pt, c0 * ptStride + r0, ptStride, scaleLog2);
        }
    }

    /// <summary>
    /// As <see cref="Compute"/>, with the head dim split into <paramref name="splits"/> slices when
    /// the tile has fewer 4 x 4 blocks than the group has threads: thread t takes block
    /// t mod blocks and slice t / blocks, and writes its partial sums to score slice
    /// t / blocks of Pt ([splits][bc][ptStride], <paramref name="sliceFloats"/> apart). The
    /// softmax adds the slices up (<see cref="SoftmaxRowShare.PartialMax"/>).
    /// </summary>
    public static void ComputeSplit(
        ArrayView<float> qt, int qtStride, ArrayView<float> kt, int ktStride,
        ArrayView<float> pt, int ptStride, int sliceFloats, int splits, int br, int bc, int dimPadded, float scaleLog2)
    {
        int blocksPerRow = bc / 4;
        int blocks = (br / 4) * blocksPerRow;
        int dimsPerSlice = dimPadded / splits;
        for (int t = Group.IdxX; t < blocks * splits; t += Group.DimX)
        {
            int slice = t / blocks;
            int b = t - slice * blocks;
            // Consecutive threads take consecutive key columns of the same query rows (Q reads are broadcasts).
            int r0 = (b / blocksPerRow) * 4;
            int c0 = (b - (b / blocksPerRow) * blocksPerRow) * 4;
            int dBegin = slice * dimsPerSlice;
            int dEnd = dBegin + dimsPerSlice;
            var acc = Dot(qt, qtStride, r0, kt, ktStride, c0, dBegin, dEnd);
            acc.StoreTransposed(pt, slice * sliceFloats + c0 * ptStride + r0, ptStride, scaleLog2);
        }
    }
    /// <summary>
    /// The 4 x 4 block of Q K^T at query rows r0.. and keys c0.. summed over head dims dBegin .. dEnd - 1
    /// (a multiple of 4 apart), from the transposed tiles Qt [d][qtStride] and Kt [d][ktStride].
    /// </summary>
    private static MicroTile4x4 Dot(ArrayView<float> qt, int qtStride, int r0, ArrayView<float> kt, int ktStride, int c0, int dBegin, int dEnd)
    {
        // Strides in vectors are compile-time constants, indices 64-bit (see Float4.At).
        long qs = qtStride >> 2, ks = ktStride >> 2;
        long qi = (dBegin * qtStride + r0) >> 2, ki = (dBegin * ktStride + c0) >> 2;
        var acc = new MicroTile4x4();
        // Four steps per iteration (head dims are multiples of 32): ILGPU does not unroll, and
        // straight-line steps let ptxas issue the next loads before the current FMAs.
        for (int d = dBegin; d < dEnd; d += 4)
        {
            acc.AccumulateOuter(Float4.At(qt, qi), Float4.At(kt, ki));
            acc.AccumulateOuter(Float4.At(qt, qi + qs), Float4.At(kt, ki + ks));
            acc.AccumulateOuter(Float4.At(qt, qi + 2 * qs), Float4.At(kt, ki + 2 * ks));
            acc.AccumulateOuter(Float4.At(qt, qi + 3 * qs), Float4.At(kt, ki + 3 * ks));
            qi += 4 * qs;
            ki += 4 * ks;
        }
        return acc;
    }
}
