using FlashAttention.Kernels.Portable;

namespace FlashAttention.Kernels.TensorCore;

/// <summary>
/// A packed mask's words (<see cref="MaskBits"/>) staged through shared memory by cp.async, for the wgmma kernel's
/// <see cref="StagedBitMaskScores"/> mode. Each warp stages its own 16 rows: at the top of tile j its lanes copy tile j + 1's
/// two words of every row (lane l: row l / 2, word l mod 2, 4 bytes) in the commit group of that tile's K and V, so the
/// words land during tile j's work and the wait and barrier the kernel already has for tile j + 1 publish them. The register
/// form (<see cref="MaskWords.Load"/>) issues its global loads at the top of their own tile. On the H100 (fp16, B 2 x N 8192,
/// docs/PERFORMANCE.md, session 20) staging made the masked call 5.3-5.8 % faster at d 64 (1.29-1.32x the plain call, from
/// 1.37-1.39x) and 0.3-0.8 % at d 128.
/// Rows past seqlen_q copy the last row (<see cref="MaskBits.At"/>; their results are discarded).
/// </summary>
internal struct MaskStage
{
    /// <summary>Tiles in flight per warp: the next tile's copy runs during the current tile's work.</summary>
    public const int Stages = 2;

    private const int Rows = 16;                      // one warp's rows of a wgmma accumulator
    private const int StageWords = Rows * 2;          // two 32-bit words (64 keys) a row
    private const int StageElements = StageWords * 2; // in the ushort elements of the shared buffer

    /// <summary>Shared-memory elements (ushort) of the stages of <paramref name="warps"/> warps.</summary>
    public static int SharedElements(int warps) => warps * Stages * StageElements;

    private int words;    // this warp's first stage, as a 32-bit word index of the shared buffer
    private long source;  // this lane's word of the first key tile: a byte address on CUDA, a word index in the emulation
    private int issued, read;

    /// <summary>
    /// Lays out this warp's stages from shared element <paramref name="regionStart"/> (8-byte aligned, <see cref="SharedElements"/>)
    /// and this lane's word of row <paramref name="warpFirstRow"/> + lane / 2 in <paramref name="bits"/> (set for the head).
    /// </summary>
    public static MaskStage Start<TTarget>(int regionStart, in MaskBits bits, int warpFirstRow)
        where TTarget : struct, ITensorCoreTarget
    {
        int lane = Warp.LaneIdx;
        long word = bits.At(warpFirstRow + (lane >> 1), lane & 1);
        return new MaskStage
        {
            words = regionStart / 2 + (Group.IdxX >> 5) * Stages * StageWords,
            source = default(TTarget).EmitsPtx ? (long)bits.Address + 4 * word : word,
        };
    }

    /// <summary>
    /// Issues the copy of key tile <paramref name="tile"/>'s words (64 keys a row) into the commit group of that tile's K/V.
    /// Every lane of the warp calls it, tiles in the order they are read, after a group barrier that follows the warp's
    /// reads of this stage's previous tile.
    /// </summary>
    public void Issue<TTarget>(ArrayView<ushort> shared, int sharedBase, in MaskBits bits, int tile)
        where TTarget : struct, ITensorCoreTarget
    {
        int to = words + (issued & (Stages - 1)) * StageWords + Warp.LaneIdx;
        issued++;
        long word = 2L * tile; // a 64-key tile is words 2 tile and 2 tile + 1 of a row
        if (default(TTarget).EmitsPtx)
        {
            CpAsync.Copy4Raw((uint)(sharedBase + 4 * to), (ulong)(source + 4 * word));
            return;
        }
        shared.Cast<uint>()[to] = bits.Words[source + word];
    }

    /// <summary>
    /// This lane's words of the oldest issued tile (landed: the kernel has waited for the tile's copies and passed its
    /// barrier), as <see cref="MaskWords.Load"/> gives them: rows g and g + 8, shifted right by 2q.
    /// </summary>
    public MaskWords Read(ArrayView<ushort> shared)
    {
        int at = words + (read & (Stages - 1)) * StageWords + 2 * (Warp.LaneIdx >> 2);
        read++;
        int shift = 2 * (Warp.LaneIdx & 3);
        var w = shared.Cast<uint>();
        return new MaskWords
        {
            Low0 = w[at] >> shift, Low1 = w[at + 1] >> shift,
            High0 = w[at + 16] >> shift, High1 = w[at + 17] >> shift,
        };
    }
}
