using FlashAttention.Kernels.Portable;
using ILGPU.Runtime.Cuda;

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

    /// <summary>
    /// S's starting accumulator for the tile: 0 where the mask keeps a score and -inf where it hides one. The tensor-core
    /// products accumulate Q K^T onto it (-inf plus a finite product stays -inf), so the mask costs no test after the
    /// product, where the softmax waits for S. Per lane and 64-key tile that is 32 byte permutes and 16 shifts and masks
    /// ahead of the product, against 64 bit tests and selects and a warp vote after it for <see cref="Apply"/>.
    /// Used by the seeded score modes (<see cref="SeededScores{TMode}"/>; the experiment FLASH_SEED_SCORES=1, session 21).
    /// </summary>
    public readonly Tile8 Seed<TTarget>(int columns)
        where TTarget : struct, ITensorCoreTarget
    {
        // Byte n of each word below has bit 7 set where the lane's column 0 (or 1) of n-tile n is hidden, and nothing else.
        uint low0 = Hidden(Low0, 7), low1 = Hidden(Low0, 6), high0 = Hidden(High0, 7), high1 = Hidden(High0, 6);
        var s = new Tile8
        {
            N0 = Fragment<TTarget>(low0, low1, high0, high1, 0),
            N1 = Fragment<TTarget>(low0, low1, high0, high1, 1),
            N2 = Fragment<TTarget>(low0, low1, high0, high1, 2),
            N3 = Fragment<TTarget>(low0, low1, high0, high1, 3),
        };
        if (columns > 32)
        {
            low0 = Hidden(Low1, 7); low1 = Hidden(Low1, 6); high0 = Hidden(High1, 7); high1 = Hidden(High1, 6);
            s.N4 = Fragment<TTarget>(low0, low1, high0, high1, 0);
            s.N5 = Fragment<TTarget>(low0, low1, high0, high1, 1);
            s.N6 = Fragment<TTarget>(low0, low1, high0, high1, 2);
            s.N7 = Fragment<TTarget>(low0, low1, high0, high1, 3);
        }
        return s;
    }

    /// <summary>The clear keep bits at 8n (<paramref name="shift"/> 7) or 8n + 1 (6) of <paramref name="keep"/>, moved to bit 8n + 7.</summary>
    private static uint Hidden(uint keep, int shift) => (~keep << shift) & 0x8080_8080u;

    private static FragmentC Fragment<TTarget>(uint low0, uint low1, uint high0, uint high1, int n)
        where TTarget : struct, ITensorCoreTarget => new()
    {
        C0 = Logit<TTarget>(low0, n),
        C1 = Logit<TTarget>(low1, n),
        C2 = Logit<TTarget>(high0, n),
        C3 = Logit<TTarget>(high1, n),
    };

    /// <summary>
    /// -inf (0xFF800000) if byte <paramref name="n"/> (compile-time) of <paramref name="hidden"/> is 0x80, else 0: on CUDA one
    /// prmt, whose selector puts the byte's sign spread over byte 3, the byte itself in byte 2 and zeros below.
    /// </summary>
    private static float Logit<TTarget>(uint hidden, int n)
        where TTarget : struct, ITensorCoreTarget
    {
        if (!default(TTarget).EmitsPtx)
            return (hidden >> (8 * n) & 0x80u) != 0 ? float.NegativeInfinity : 0f;
        Ref<float> logit = 0f;
        Ref<uint> bits = hidden;
        if (n == 0)
            CudaAsm.EmitRef("prmt.b32 %0, %1, 0, 0x8044;", ref logit, ref bits);
        else if (n == 1)
            CudaAsm.EmitRef("prmt.b32 %0, %1, 0, 0x9144;", ref logit, ref bits);
        else if (n == 2)
            CudaAsm.EmitRef("prmt.b32 %0, %1, 0, 0xA244;", ref logit, ref bits);
        else
            CudaAsm.EmitRef("prmt.b32 %0, %1, 0, 0xB344;", ref logit, ref bits);
        return logit.Value;
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
