using FlashAttention.Kernels.Portable;

namespace FlashAttention.Kernels.TensorCore;

/// <summary>
/// This lane's elements of the bias and mask tensors for one 16-row block of a key tile, in the
/// layout of its S fragments (<see cref="FragmentSoftmax"/>: rows g and g + 8, columns 8n + 2q and
/// 8n + 2q + 1 of n-tile n), held in registers. The kernel issues the loads at the top of the tile's
/// iteration, so they are in flight through the cp.async wait, the barrier and S = Q K^T; read
/// inside the softmax instead, each element was a global load the warp waited on with nothing else
/// to do (3-4x the plain kernel's time on the H100). What lies outside the sequences (padding rows,
/// keys past seqlen_k) does not count (<see cref="BiasTerms.Apply"/>).
/// </summary>
internal struct BiasFragment
{
    /// <summary>Columns 8n .. 8n + 7 of the tile.</summary>
    public BiasTerms N0, N1, N2, N3, N4, N5, N6, N7;

    /// <summary>
    /// Issues the loads of rows <paramref name="rowLow"/> and + 8 for the tile's first
    /// <paramref name="columns"/> (32 or 64, compile-time) keys from <paramref name="firstCol"/>, when
    /// <see cref="ScoreBias.PairAligned"/>; otherwise nothing is loaded and the softmax reads the
    /// elements itself. Without <paramref name="withMask"/> (compile-time) only the bias is loaded;
    /// <paramref name="halfBias"/> (compile-time, <see cref="HalfBiasScores"/>): the bias is float16 pairs.
    /// </summary>
    /// <remarks>
    /// One uniform branch and no other: a load under its own condition becomes a value merged with
    /// the default at the end of the branch, and ptxas then copied each load's result into the merged
    /// register right after issuing it, which waits for the load and undoes the prefetch. So every
    /// load here reads a valid element (indices clamped into the tensors, placeholders of two
    /// elements for absent ones), and <see cref="BiasTerms.Apply"/> sorts out what counts.
    /// </remarks>
    public static BiasFragment Load(in ScoreBias e, int rowLow, int firstCol, int columns, bool withMask = true, bool halfBias = false)
    {
        var f = default(BiasFragment);
        if (e.PairAligned == 0)
            return f;
        // Pair units throughout (seqlen_k and the bases are even): the row bases are computed once,
        // and each load adds only a clamped 32-bit pair index.
        int pairs = e.SeqLenK >> 1;
        long low = (long)Math.Min(rowLow, e.SeqLenQ - 1) * pairs;
        long high = (long)Math.Min(rowLow + 8, e.SeqLenQ - 1) * pairs;
        bool hasBias = e.HasBias != 0, hasMask = e.HasMask != 0;
        var rows = new PairRows
        {
            BiasLow = halfBias ? default : Row(e.Bias.Cast<ulong>(), hasBias ? (e.BiasBase >> 1) + low : 0),
            BiasHigh = halfBias ? default : Row(e.Bias.Cast<ulong>(), hasBias ? (e.BiasBase >> 1) + high : 0),
            HalfLow = halfBias ? Row(e.Bias.Cast<uint>(), (e.BiasBase >> 1) + low) : default,
            HalfHigh = halfBias ? Row(e.Bias.Cast<uint>(), (e.BiasBase >> 1) + high) : default,
            MaskLow = Row(e.Mask.Cast<ushort>(), hasMask ? (e.MaskBase >> 1) + low : 0),
            MaskHigh = Row(e.Mask.Cast<ushort>(), hasMask ? (e.MaskBase >> 1) + high : 0),
            BiasLast = hasBias ? pairs - 1 : 0,
            MaskLast = hasMask ? pairs - 1 : 0,
        };
        int p0 = (firstCol >> 1) + (Warp.LaneIdx & 3);
        f.N0 = BiasTerms.Load(rows, p0, withMask, halfBias);
        f.N1 = BiasTerms.Load(rows, p0 + 4, withMask, halfBias);
        f.N2 = BiasTerms.Load(rows, p0 + 8, withMask, halfBias);
        f.N3 = BiasTerms.Load(rows, p0 + 12, withMask, halfBias);
        if (columns > 32)
        {
            f.N4 = BiasTerms.Load(rows, p0 + 16, withMask, halfBias);
            f.N5 = BiasTerms.Load(rows, p0 + 20, withMask, halfBias);
            f.N6 = BiasTerms.Load(rows, p0 + 24, withMask, halfBias);
            f.N7 = BiasTerms.Load(rows, p0 + 28, withMask, halfBias);
        }
        return f;
    }

    /// <summary>
    /// S += b / scale on the tile's n-tiles (32 or 64 keys): <paramref name="unit"/> is log2(e) over the scale
    /// when S is raw (the fused form), log2(e) when S is already in the log2 domain.
    /// </summary>
    public readonly void AddBias(ref Tile8 s, float unit, int columns)
    {
        N0.AddBias(ref s.N0, unit);
        N1.AddBias(ref s.N1, unit);
        N2.AddBias(ref s.N2, unit);
        N3.AddBias(ref s.N3, unit);
        if (columns > 32)
        {
            N4.AddBias(ref s.N4, unit);
            N5.AddBias(ref s.N5, unit);
            N6.AddBias(ref s.N6, unit);
            N7.AddBias(ref s.N7, unit);
        }
    }

    /// <summary><see cref="AddBias"/> for a float16 bias (<see cref="HalfBiasScores"/>): each pair widened here, where it is first needed.</summary>
    public readonly void AddHalfBias<TTarget>(ref Tile8 s, float unit, int columns)
        where TTarget : struct, ITensorCoreTarget
    {
        N0.AddHalfBias<TTarget>(ref s.N0, unit);
        N1.AddHalfBias<TTarget>(ref s.N1, unit);
        N2.AddHalfBias<TTarget>(ref s.N2, unit);
        N3.AddHalfBias<TTarget>(ref s.N3, unit);
        if (columns > 32)
        {
            N4.AddHalfBias<TTarget>(ref s.N4, unit);
            N5.AddHalfBias<TTarget>(ref s.N5, unit);
            N6.AddHalfBias<TTarget>(ref s.N6, unit);
            N7.AddHalfBias<TTarget>(ref s.N7, unit);
        }
    }

    private static ArrayView<T> Row<T>(ArrayView<T> view, long start) where T : unmanaged => view.SubView(start, view.Length - start);
}

/// <summary>
/// The two rows (g and g + 8) of the bias and mask that a lane reads, as views of (col, col + 1)
/// pairs starting at the row, and the last pair index each may read (0 for an absent tensor, whose
/// placeholder holds one pair).
/// </summary>
internal struct PairRows
{
    public ArrayView<ulong> BiasLow, BiasHigh;
    public ArrayView<uint> HalfLow, HalfHigh; // a float16 bias instead: a pair is one 32-bit word
    public ArrayView<ushort> MaskLow, MaskHigh;
    public int BiasLast, MaskLast;
}

/// <summary>
/// The bias and mask elements behind one accumulator fragment (<see cref="FragmentC"/>): bias in
/// C0-C3 order, and the mask bytes of each row's two columns as one 16-bit word (column col in bits
/// 0-7, col + 1 in bits 8-15; nonzero = keep). Kept raw until the softmax: combining them where they
/// are loaded would make the warp wait for the loads there.
/// </summary>
internal struct BiasTerms
{
    public float BiasLow0, BiasLow1, BiasHigh0, BiasHigh1;
    public uint KeepLow, KeepHigh;

    /// <summary>A float16 bias's pairs of rows g and g + 8 as loaded (column col in the low half).</summary>
    public uint HalfLow, HalfHigh;

    /// <summary>
    /// Rows g and g + 8 at pair <paramref name="pair"/> (columns 2 pair and 2 pair + 1): one 8-byte bias
    /// and one 2-byte mask load per row. Keys past seqlen_k read the row's last pair, which
    /// <see cref="Apply"/> ignores.
    /// </summary>
    public static BiasTerms Load(in PairRows rows, int pair, bool withMask, bool halfBias = false)
    {
        int b = Math.Min(pair, rows.BiasLast), m = Math.Min(pair, rows.MaskLast);
        if (halfBias)
            return new BiasTerms { HalfLow = rows.HalfLow[b], HalfHigh = rows.HalfHigh[b] };
        ulong biasLow = rows.BiasLow[b];
        ulong biasHigh = rows.BiasHigh[b];
        return new BiasTerms
        {
            BiasLow0 = Interop.IntAsFloat((uint)biasLow),
            BiasLow1 = Interop.IntAsFloat((uint)(biasLow >> 32)),
            BiasHigh0 = Interop.IntAsFloat((uint)biasHigh),
            BiasHigh1 = Interop.IntAsFloat((uint)(biasHigh >> 32)),
            KeepLow = withMask ? rows.MaskLow[m] : 0u,
            KeepHigh = withMask ? rows.MaskHigh[m] : 0u,
        };
    }

    /// <summary>
    /// The bias alone, one FFMA per score (<see cref="BiasFragment.AddBias"/>): no tests of the sequence
    /// ends, as what lies outside them is discarded (rows) or masked after this (keys).
    /// </summary>
    public readonly void AddBias(ref FragmentC c, float unit)
    {
        c.C0 += BiasLow0 * unit;
        c.C1 += BiasLow1 * unit;
        c.C2 += BiasHigh0 * unit;
        c.C3 += BiasHigh1 * unit;
    }

    /// <summary><see cref="AddBias"/> on the float16 pairs: two conversions and two FFMA per pair.</summary>
    public readonly void AddHalfBias<TTarget>(ref FragmentC c, float unit)
        where TTarget : struct, ITensorCoreTarget
    {
        var (low0, low1) = HalfPair.Widen<TTarget>(HalfLow);
        var (high0, high1) = HalfPair.Widen<TTarget>(HalfHigh);
        c.C0 += low0 * unit;
        c.C1 += low1 * unit;
        c.C2 += high0 * unit;
        c.C3 += high1 * unit;
    }

    /// <summary>
    /// <see cref="ScoreBias.Apply"/> on the loaded elements: the fragment's logits (log2 domain, after
    /// soft cap and ALiBi) of rows rowLow, rowLow + 8 and columns col, col + 1 with the bias added, or
    /// -inf where the mask hides them; left alone outside the sequences.
    /// </summary>
    public readonly void Apply(ref FragmentC c, in ScoreBias e, int rowLow, int col)
    {
        bool inside = col < e.SeqLenK;
        bool low = inside && rowLow < e.SeqLenQ, high = inside && rowLow + 8 < e.SeqLenQ;
        c.C0 = Term(c.C0, e, low, KeepLow & 0xFFu, BiasLow0);
        c.C1 = Term(c.C1, e, low, KeepLow & 0xFF00u, BiasLow1);
        c.C2 = Term(c.C2, e, high, KeepHigh & 0xFFu, BiasHigh0);
        c.C3 = Term(c.C3, e, high, KeepHigh & 0xFF00u, BiasHigh1);
    }

    private static float Term(float logit, in ScoreBias e, bool inside, uint keep, float bias) =>
        !inside ? logit
        : e.HasMask != 0 && keep == 0 ? float.NegativeInfinity
        : e.HasBias != 0 ? logit + bias * ScoreBias.Log2E
        : logit;
}
