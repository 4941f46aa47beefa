using FlashAttention.Kernels.Portable;

namespace FlashAttention.Kernels.TensorCore;

/// <summary>
/// This lane's keep bits of a packed mask (<see cref="MaskBits"/>) for one 16-row block of a key tile:
/// rows g and g + 8, keys firstCol .. + 31 (word 0) and + 32 .. + 63 (word 1). The words are in fragment
/// order (<see cref="MaskBits"/>): lane q's eight keys of a word (its columns 8n + 2q and 8n + 2q + 1 of
/// n-tiles n = 0..3, <see cref="FragmentSoftmax"/>) are its byte q, so one shift by 8q per word leaves
/// them as bits 2n and 2n + 1. Every test then reads one register with a constant bit (0..7): in the
/// H100 SASS (CUDA 13, d 64, session 19 s19b) ptxas reads a word's bits with three R2P and two LOP3, 52
/// instructions a warp and tile for the whole test where key order (a shift by 2q, bits 8n and 8n + 1)
/// took a shift and an R2P for every pair, 60. Loaded at the top of the tile's iteration, like the bias
/// fragments, so the loads are in flight through the barrier and S = Q K^T.
/// </summary>
internal struct MaskWords
{
    /// <summary>Row g, keys 0-31 and 32-63 of the tile; row g + 8, the same.</summary>
    public uint Low0, Low1, High0, High1;

    /// <summary>The lane's eight bits of a word after the shift; the bits above are other lanes' (q &lt; 3).</summary>
    private const uint Owned = 0xFFu;

    /// <summary>Fetches rows <paramref name="rowLow"/> and + 8 of the tile at <paramref name="firstCol"/> (a multiple of <paramref name="columns"/>, 32 or 64, compile-time).</summary>
    public static MaskWords Load(in MaskBits bits, int rowLow, int firstCol, int columns)
    {
        int word = firstCol >> 5;
        int shift = 8 * (Warp.LaneIdx & 3);
        long low = bits.At(rowLow, word), high = bits.At(rowLow + 8, word);
        var m = new MaskWords { Low0 = bits.Words[low] >> shift, High0 = bits.Words[high] >> shift };
        if (columns > 32)
        {
            m.Low1 = bits.Words[low + 1] >> shift;
            m.High1 = bits.Words[high + 1] >> shift;
        }
        return m;
    }

    /// <summary>Whether this lane keeps every one of its scores in the tile (then, warp-wide, the tile needs no test).</summary>
    public readonly bool KeepsAll(int columns)
    {
        uint both = Low0 & High0;
        if (columns > 32)
            both &= Low1 & High1;
        return (both & Owned) == Owned;
    }

    /// <summary>-inf where the mask hides a score of the tile's n-tiles (32 or 64 keys).</summary>
    /// <remarks>
    /// The same four registers for every n-tile of a word, only the bit changes: no shift between the
    /// tests, so ptxas can load a word's bits into predicates at once instead of pair by pair.
    /// </remarks>
    public readonly void Apply(ref Tile8 s, int columns)
    {
        Hide(ref s.N0, Low0, High0, 1u << 0, 1u << 1);
        Hide(ref s.N1, Low0, High0, 1u << 2, 1u << 3);
        Hide(ref s.N2, Low0, High0, 1u << 4, 1u << 5);
        Hide(ref s.N3, Low0, High0, 1u << 6, 1u << 7);
        if (columns > 32)
        {
            Hide(ref s.N4, Low1, High1, 1u << 0, 1u << 1);
            Hide(ref s.N5, Low1, High1, 1u << 2, 1u << 3);
            Hide(ref s.N6, Low1, High1, 1u << 4, 1u << 5);
            Hide(ref s.N7, Low1, High1, 1u << 6, 1u << 7);
        }
    }

    /// <summary><paramref name="even"/> and <paramref name="odd"/>: the bits (compile-time) of the n-tile's two columns.</summary>
    private static void Hide(ref FragmentC c, uint low, uint high, uint even, uint odd)
    {
        c.C0 = (low & even) != 0 ? c.C0 : float.NegativeInfinity;
        c.C1 = (low & odd) != 0 ? c.C1 : float.NegativeInfinity;
        c.C2 = (high & even) != 0 ? c.C2 : float.NegativeInfinity;
        c.C3 = (high & odd) != 0 ? c.C3 : float.NegativeInfinity;
    }
}
