using FlashAttention.Kernels.Portable;

namespace FlashAttention.Kernels.TensorCore;

/// <summary>
/// A packed mask's words (<see cref="MaskWords"/>) loaded one key tile ahead, so their latency (L2, or DRAM for a mask
/// that does not fit it) hides behind a whole iteration instead of the barrier and S = Q K^T alone. An experiment
/// (<c>FLASH_MASK_PREFETCH=1</c>, <see cref="On"/>) on <see cref="WgmmaForwardKernel"/>: four more registers a lane.
/// </summary>
internal struct MaskWordsAhead
{
    /// <summary>Whether the wgmma kernel loads the words ahead (a readonly static field: kernels compile it in as a constant).</summary>
    public static readonly bool On = Environment.GetEnvironmentVariable("FLASH_MASK_PREFETCH") == "1";

    private MaskWords words;
    private int tile;

    /// <summary>Starts with tile <paramref name="first"/>'s words in flight (none when the block has no tile before <paramref name="end"/>).</summary>
    public static MaskWordsAhead Start(in MaskBits bits, int rowLow, int first, int end, int columns)
    {
        var ahead = new MaskWordsAhead { tile = -1 };
        if (first < end)
        {
            ahead.words = MaskWords.Load(bits, rowLow, first * columns, columns);
            ahead.tile = first;
        }
        return ahead;
    }

    /// <summary>
    /// Tile <paramref name="j"/>'s words (the ones loaded ahead, or loaded now where a skipped block made them another tile's),
    /// and the loads of tile <paramref name="next"/>'s set off when it comes before <paramref name="end"/>.
    /// </summary>
    public MaskWords Take(in MaskBits bits, int rowLow, int j, int next, int end, int columns)
    {
        var keep = tile == j ? words : MaskWords.Load(bits, rowLow, j * columns, columns);
        if (next < end)
        {
            words = MaskWords.Load(bits, rowLow, next * columns, columns);
            tile = next;
        }
        return keep;
    }
}
