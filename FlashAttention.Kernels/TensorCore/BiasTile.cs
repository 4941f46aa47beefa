using FlashAttention.Kernels.Portable;

namespace FlashAttention.Kernels.TensorCore;

/// <summary>
/// The float32 bias of one key tile, staged in shared memory for the wgmma kernel: Br rows of the
/// tile's 64 keys, copied with cp.async as part of the K/V stage it belongs to, so it streams in
/// during the previous tile's work like K and V. Prefetched into registers instead
/// (<see cref="BiasFragment"/>), each lane's 32 values had to live through S = Q K^T next to O and S,
/// which took the kernel to 201 registers and one group per SM, and a bias call to 3x the plain time
/// on the H100. Rows are padded to <see cref="RowFloats"/> floats so that the softmax's 8-byte reads
/// (rows g, columns 8n + 2q) of each half-warp fall in distinct banks.
/// The kernel stages the bias when it has one and no mask tensor, and the rows split into 16-byte
/// copies (<see cref="ScoreBias.QuadAligned"/>); otherwise it prefetches into registers as before.
/// </summary>
internal static class BiasTile
{
    /// <summary>Floats per staged row: 64 keys and 8 of padding.</summary>
    public const int RowFloats = 72;

    /// <summary>The largest head dim whose group still fits two bias tiles beside Q and two K/V stages in 227 KB.</summary>
    public const int MaxDim = 192;

    /// <summary>Whether a wgmma kernel of these compile-time choices reserves the two tiles (dropout kernels keep the register path).</summary>
    public static bool Reserved(bool tensors, bool dropout, int dim) => tensors && !dropout && dim <= MaxDim;

    /// <summary>Shared elements (ushort) of the two stages' tiles of <paramref name="br"/> rows.</summary>
    public static int SharedElements(int br) => 2 * br * RowFloats * 2;

    /// <summary>Whether this call's bias goes through the tiles (the same for every group of the launch).</summary>
    public static bool Staged(in ScoreBias e) => e.HasBias != 0 && e.HasMask == 0 && e.QuadAligned != 0;

    /// <summary>
    /// Issues the copies of rows <paramref name="firstRow"/> .. + <paramref name="br"/> and keys
    /// <paramref name="firstCol"/> .. + 64 of the current (batch, head) into the tile at shared element
    /// <paramref name="at"/> (16-byte aligned; <paramref name="sharedBase"/> is the buffer's byte
    /// address). Rows past seqlen_q and keys past seqlen_k are zeros, which the softmax ignores.
    /// </summary>
    public static void Load<TTarget>(in ScoreBias e, int firstRow, int firstCol, int br, int threads, ArrayView<ushort> shared, int sharedBase, int at)
        where TTarget : struct, ITensorCoreTarget
    {
        int thread = Group.IdxX;
        int quad = thread & 15;            // this thread's 4 keys of each row it copies
        int rowsPerPass = threads >> 4;    // br / rowsPerPass = 8 passes for every thread: warp-uniform
        int col = firstCol + 4 * quad;
        var floats = shared.Cast<float>();
        for (int r = thread >> 4; r < br; r += rowsPerPass)
        {
            int row = firstRow + r;
            bool valid = row < e.SeqLenQ && col < e.SeqLenK;
            long index = e.BiasBase + (long)row * e.SeqLenK + col;
            int to = at / 2 + r * RowFloats + 4 * quad; // in floats
            if (default(TTarget).EmitsPtx)
            {
                CpAsync.Copy16Raw((uint)(sharedBase + 4 * to), valid ? e.BiasAddress + (ulong)(index * 4) : e.BiasAddress, valid);
            }
            else
            {
                for (int i = 0; i < 4; i++)
                    floats[to + i] = valid ? e.Bias[index + i] : 0f;
            }
        }
    }

    /// <summary>
    /// This lane's bias for the tile at shared element <paramref name="at"/>: rows <paramref name="rowInTile"/>
    /// and + 8 of the tile, in the layout of its S fragments (what <see cref="BiasFragment.Load"/> gives, with every
    /// mask bit set: staged calls have no mask).
    /// </summary>
    public static BiasFragment Read(ArrayView<ushort> shared, int at, int rowInTile)
    {
        var pairs = shared.Cast<ulong>();
        int low = at / 4 + rowInTile * (RowFloats / 2) + (Warp.LaneIdx & 3);
        int high = low + 8 * (RowFloats / 2);
        return new BiasFragment
        {
            N0 = Terms(pairs, low, high),
            N1 = Terms(pairs, low + 4, high + 4),
            N2 = Terms(pairs, low + 8, high + 8),
            N3 = Terms(pairs, low + 12, high + 12),
            N4 = Terms(pairs, low + 16, high + 16),
            N5 = Terms(pairs, low + 20, high + 20),
            N6 = Terms(pairs, low + 24, high + 24),
            N7 = Terms(pairs, low + 28, high + 28),
        };
    }

    private static BiasTerms Terms(ArrayView<ulong> pairs, int low, int high)
    {
        ulong a = pairs[low], b = pairs[high];
        return new BiasTerms
        {
            BiasLow0 = Interop.IntAsFloat((uint)a),
            BiasLow1 = Interop.IntAsFloat((uint)(a >> 32)),
            BiasHigh0 = Interop.IntAsFloat((uint)b),
            BiasHigh1 = Interop.IntAsFloat((uint)(b >> 32)),
            KeepLow = 0xFFFFu,
            KeepHigh = 0xFFFFu,
        };
    }
}
