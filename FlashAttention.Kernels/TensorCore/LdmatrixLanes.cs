namespace FlashAttention.Kernels.TensorCore;

/// <summary>
/// Where each lane points ldmatrix .x4 inside a 16 x 16 block of a shared tile, as an element offset
/// from the block's corner. Computed once per kernel: the lane-dependent part of every ldmatrix
/// address is loop-invariant, so the loops only add compile-time block offsets to it.
/// </summary>
internal readonly struct LdmatrixLanes
{
    /// <summary>
    /// Matrices (rows 0-7, cols 0-7), (rows 8-15, cols 0-7), (rows 0-7, cols 8-15), (rows 8-15, cols 8-15):
    /// the A operand of m16n8k16 (Q rows by head dims, or P), and with .trans the B operand from
    /// row-major V (keys by head dims).
    /// </summary>
    public readonly int A;

    /// <summary>
    /// Matrices (rows 0-7, cols 0-7), (rows 0-7, cols 8-15), (rows 8-15, cols 0-7), (rows 8-15, cols 8-15):
    /// two n8k16 B operands from row-major K (keys by head dims), one per pair of registers.
    /// </summary>
    public readonly int B;

    public LdmatrixLanes(int stride)
    {
        int lane = Warp.LaneIdx;
        int matrix = lane >> 3;
        int r = lane & 7;
        A = (r + (matrix & 1) * 8) * stride + (matrix >> 1) * 8;
        B = (r + (matrix >> 1) * 8) * stride + (matrix & 1) * 8;
    }
}
