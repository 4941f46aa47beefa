namespace FlashAttention.Kernels.Portable;

/// <summary>
/// One step of a streaming-decode lane: its 16-byte slice of up to four keys and their values
/// (keys <c>keys</c> apart, one per unrolled key), first as raw loads in flight
/// (<see cref="Fetch{T}"/>), then widened to float32 (<see cref="Widen{T, TVec}"/>). The kernel fetches
/// step i + 1 before it works on step i, so every lane always has a step's loads in flight.
/// </summary>
internal struct DecodeStreamStep
{
    /// <summary>Keys, widened.</summary>
    public Float8 K0, K1, K2, K3;

    /// <summary>Values, widened.</summary>
    public Float8 V0, V1, V2, V3;

    /// <summary>A step's loads, as issued.</summary>
    public struct Raw
    {
        /// <summary>Keys.</summary>
        public Raw16 K0, K1, K2, K3;

        /// <summary>Values.</summary>
        public Raw16 V0, V1, V2, V3;
    }

    /// <summary>
    /// Issues the loads of keys firstKey + u * keys (u &lt; unroll) at vector <paramref name="slot"/> of
    /// their rows; keys at or past <paramref name="end"/> read nothing and give zeros.
    /// </summary>
    public static Raw Fetch<T>(in DecodeVectorRows kRows, in DecodeVectorRows vRows, in KvCacheView<T> cache, int batch,
        int firstKey, int keys, int end, int slot, int unroll)
        where T : unmanaged
    {
        var raw = default(Raw);
        Load(ref raw.K0, ref raw.V0, kRows, vRows, cache, batch, firstKey, end, slot);
        Load(ref raw.K1, ref raw.V1, kRows, vRows, cache, batch, firstKey + keys, end, slot);
        if (unroll > 2)
        {
            Load(ref raw.K2, ref raw.V2, kRows, vRows, cache, batch, firstKey + 2 * keys, end, slot);
            Load(ref raw.K3, ref raw.V3, kRows, vRows, cache, batch, firstKey + 3 * keys, end, slot);
        }
        return raw;
    }

    private static void Load<T>(ref Raw16 k, ref Raw16 v, in DecodeVectorRows kRows, in DecodeVectorRows vRows, in KvCacheView<T> cache,
        int batch, int key, int end, int slot)
        where T : unmanaged
    {
        if (key >= end)
            return;
        k = kRows.Vectors[kRows.Row(cache, batch, key) + slot];
        v = vRows.Vectors[vRows.Row(cache, batch, key) + slot];
    }

    /// <summary>The step's elements as float32 (waits for its loads).</summary>
    public static DecodeStreamStep Widen<T, TVec>(in Raw raw, int unroll)
        where T : unmanaged
        where TVec : struct, IVectorElements<T>
    {
        var step = new DecodeStreamStep
        {
            K0 = default(TVec).Widen(raw.K0), K1 = default(TVec).Widen(raw.K1),
            V0 = default(TVec).Widen(raw.V0), V1 = default(TVec).Widen(raw.V1),
        };
        if (unroll > 2)
        {
            step.K2 = default(TVec).Widen(raw.K2);
            step.K3 = default(TVec).Widen(raw.K3);
            step.V2 = default(TVec).Widen(raw.V2);
            step.V3 = default(TVec).Widen(raw.V3);
        }
        return step;
    }
}
