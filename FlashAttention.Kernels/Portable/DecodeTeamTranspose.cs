namespace FlashAttention.Kernels.Portable;

/// <summary>
/// Eight partial sums reduced over a 16-lane team as a transpose (a reduce-scatter) instead of eight
/// butterflies: at each level a lane keeps half of its values and sends the other half to its partner
/// (lane ^ offset), adding the partner's copy of each value it keeps. Levels 8, 4 and 2 (4 + 2 + 1
/// shuffles) leave each lane pair with the two halves of one sum; a plain xor add (1 shuffle) gives both
/// lanes of the pair the whole sum: 8 shuffles for 8 sums where a butterfly per sum takes 32 and hands
/// every lane every sum, most of which it then only uses to repeat its neighbours' work.
/// The levels run in the butterfly's order (8, 4, 2, 1) and add the same pairs, so each sum is bit for
/// bit the one the butterfly gives (<see cref="DecodeStreamRow"/>'s TeamSum at 16 lanes).
/// </summary>
internal static class DecodeTeamTranspose
{
    /// <summary>The whole sum over the team of value <c>slot / 2</c> (<paramref name="slot"/>: this lane's index in its team, 0 .. 15).</summary>
    public static float ReduceScatter(float v0, float v1, float v2, float v3, float v4, float v5, float v6, float v7, int slot)
    {
        // Bit 3 of the lane picks values 4 .. 7 or 0 .. 3, bit 2 the upper or lower two of those, bit 1 one of the two.
        bool upper = (slot & 8) != 0;
        float w0 = Halve(v0, v4, upper, 8);
        float w1 = Halve(v1, v5, upper, 8);
        float w2 = Halve(v2, v6, upper, 8);
        float w3 = Halve(v3, v7, upper, 8);
        upper = (slot & 4) != 0;
        float x0 = Halve(w0, w2, upper, 4);
        float x1 = Halve(w1, w3, upper, 4);
        float y = Halve(x0, x1, (slot & 2) != 0, 2);
        return y + Warp.ShuffleXor(y, 1);
    }

    /// <summary>One level: keeps <paramref name="hi"/> in the upper lane of the pair and <paramref name="lo"/> in the lower, sends the other, adds what arrives.</summary>
    private static float Halve(float lo, float hi, bool upper, int offset)
    {
        float keep = upper ? hi : lo;
        float send = upper ? lo : hi;
        return keep + Warp.ShuffleXor(send, offset);
    }
}
