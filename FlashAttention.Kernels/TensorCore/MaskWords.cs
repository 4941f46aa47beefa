using FlashAttention.Kernels.Portable;

namespace FlashAttention.Kernels.TensorCore;

/// <summary>
/// This lane's keep bits of a packed mask (<see cref="MaskBits"/>) for one 16-row block of a key tile:
/// rows g and g + 8, keys firstCol .. + 31 (word 0) and + 32 .. + 63 (word 1), shifted right by 2q so
/// that the lane's two columns of n-tile n (<see cref="FragmentSoftmax"/>: 8n + 2q, 8n + 2q + 1) are
/// bits 8n and 8n + 1 of word n / 4 (n mod 4 in the shift). Loaded at the top of the tile's iteration,
/// like the bias fragments, so the loads are in flight through the barrier and S = Q K^T.
/// </summary>
internal struct MaskWords
{
    /// <summary>Row g, keys 0-31 and 32-63 of the tile; row g + 8, the same.</summary>
    public uint Low0, Low1, High0, High1;

    /// <summary>Bits 8n and 8n + 1 of every byte: the columns a lane owns.</summary>
    private const uint Owned = 0x0303_0303u;

    /// <summary>Fetches rows <paramref name="rowLow"/> and + 8 of the tile at <paramref name="firstCol"/> (a multiple of <paramref name="columns"/>, 32 or 64, compile-time).</summary>
    public static MaskWords Load(in MaskBits bits, int rowLow, int firstCol, int columns)
    {
        int word = firstCol >> 5;
        int shift = 2 * (Warp.LaneIdx & 3);
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
    public readonly void Apply(ref Tile8 s, int columns)
    {
        Hide(ref s.N0, Low0, High0);
        Hide(ref s.N1, Low0 >> 8, High0 >> 8);
        Hide(ref s.N2, Low0 >> 16, High0 >> 16);
        Hide(ref s.N3, Low0 >> 24, High0 >> 24);
        if (columns > 32)
        {
            Hide(ref s.N4, Low1, High1);
            Hide(ref s.N5, Low1 >> 8, High1 >> 8);
            Hide(ref s.N6, Low1 >> 16, High1 >> 16);
            Hide(ref s.N7, Low1 >> 24, High1 >> 24);
        }
    }

    private static void Hide(ref FragmentC c, uint low, uint high)
    {
        c.C0 = (low & 1u) != 0 ? c.C0 : float.NegativeInfinity;
        c.C1 = (low & 2u) != 0 ? c.C1 : float.NegativeInfinity;
        c.C2 = (high & 1u) != 0 ? c.C2 : float.NegativeInfinity;
        c.C3 = (high & 2u) != 0 ? c.C3 : float.NegativeInfinity;
    }
}
