namespace FlashAttention.Kernels.Portable;

/// <summary>A streaming-decode lane's slices of one step's keys (up to four), widened to float32 for the scores.</summary>
internal struct DecodeStreamKeys
{
    /// <summary>Keys firstKey + u * keys, u = 0 .. 3.</summary>
    public Float8 K0, K1, K2, K3;

    /// <summary>The step's keys as float32 (waits for their loads).</summary>
    public static DecodeStreamKeys Widen<T, TVec>(in DecodeStreamStep raw, int unroll)
        where T : unmanaged
        where TVec : struct, IVectorElements<T>
    {
        var k = new DecodeStreamKeys { K0 = default(TVec).Widen(raw.R0), K1 = default(TVec).Widen(raw.R1) };
        if (unroll > 2)
        {
            k.K2 = default(TVec).Widen(raw.R2);
            k.K3 = default(TVec).Widen(raw.R3);
        }
        return k;
    }
}
