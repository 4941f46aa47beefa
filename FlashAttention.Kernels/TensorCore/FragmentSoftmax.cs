using FlashAttention.Kernels.Numerics;
using FlashAttention.Kernels.Portable;
using ILGPU.Algorithms;

namespace FlashAttention.Kernels.TensorCore;

/// <summary>
/// The online softmax on a warp's S fragments (16 rows x 32 or 64 keys): lane (g, q) holds rows g and g + 8,
/// columns 8i + 2q and 8i + 2q + 1 of every n-tile i. Row maxima are reduced over the quad of lanes
/// that share a row with two xor-shuffles; row sums stay per lane until the end (they are rescaled
/// by the same factors), as FlashAttention-2 does.
/// </summary>
internal struct FragmentSoftmax
{
    /// <summary>Running max of rows g and g + 8 (log2 domain).</summary>
    public float MLow, MHigh;

    /// <summary>This lane's share of the running sums of rows g and g + 8.</summary>
    public float LLow, LHigh;

    public static FragmentSoftmax Start() => new()
    {
        MLow = float.NegativeInfinity,
        MHigh = float.NegativeInfinity,
    };

    /// <summary>
    /// Scales S (see below), applies soft-capping and ALiBi when the kernel is compiled with them (<typeparamref name="TScores"/>'s Pointwise)
    /// and they are on, and the bias and mask tensors too when compiled with them (its Tensors: their elements
    /// come in <paramref name="terms"/>, loaded a tile ahead, when <paramref name="prefetched"/>, else they are read here), masks S when
    /// <paramref name="applyMask"/> (only tiles that cross the sequence end, the causal diagonal or a
    /// window edge pay for the per-element test), folds it into m and l, turns it into P in place, and
    /// returns the rescale factors of rows g and g + 8 for the output. <paramref name="columns"/> is the
    /// tile's key count, 32 (n-tiles N0-N3) or 64, a compile-time value in the kernels.
    /// Plain scores with a positive scale are not scaled one by one: the row max is taken on the raw
    /// S (max(c s) = c max(s) for c &gt; 0) and P = 2^(s c - m) is one FFMA and one MUFU per element,
    /// as in FlashAttention-2; soft-capping, ALiBi and the general tensors mode need the scaled score itself. A mask packed
    /// to bits (its BitMask, the words for this block in <paramref name="keep"/>) hides scores
    /// with -inf and keeps the fused form (unless <paramref name="seeded"/>: the kernel started S's product from
    /// <see cref="MaskWords.Seed{TTarget}"/>, so the hidden scores are -inf already); so does a bias alone (its BiasOnly, the elements in <paramref name="terms"/>),
    /// which joins the raw S in units of <paramref name="rawBiasUnit"/> (1 / scale, <see cref="ForwardParams{T}.RawBiasUnit"/>),
    /// unless <paramref name="seeded"/>: the kernel added it to S's zeros before the product, in the fused form.
    /// </summary>
    public (float Low, float High) Update<TTarget, TScores>(ref Tile8 s, AttentionMask mask, in ScoreModifier scores, bool prefetched,
        in BiasFragment terms, float scaleLog2, float rawBiasUnit, int rowLow, int firstCol, bool applyMask, int columns, in Dropout dropout, in MaskWords keep, bool seeded)
        where TTarget : struct, ITensorCoreTarget
        where TScores : struct, IScoreMode
    {
        // The mode's flags are compile-time constants; the sign test is uniform across the group.
        bool pointwise = default(TScores).Pointwise, tensors = default(TScores).Tensors;
        bool dropping = default(TScores).Dropout, bitMask = default(TScores).BitMask;
        bool fused = !pointwise && !tensors && scaleLog2 > 0f;
        float k = fused ? scaleLog2 : 1f;
        if (!fused)
            s.ScaleRows(scaleLog2, scaleLog2);
        // A bias alone joins S in its own units: raw S takes b / scale, a scaled S b log2(e).
        if (default(TScores).HalfBias && !seeded)
            terms.AddHalfBias<TTarget>(ref s, fused ? rawBiasUnit : ScoreBias.Log2E, columns);
        else if (default(TScores).BiasOnly && !default(TScores).HalfBias)
            terms.AddBias(ref s, fused ? rawBiasUnit : ScoreBias.Log2E, columns);
        int c0 = firstCol + 2 * (Warp.LaneIdx & 3);
        if (tensors && prefetched && scores.Elements.PairAligned != 0 && !scores.HasPointwise)
        {
            // The common tensor call: a bias and/or mask and no soft cap or ALiBi. One uniform test per
            // tile instead of the pointwise code's tests per element (which doubled the instructions the
            // kernel issued with a mask on the H100).
            terms.N0.Apply(ref s.N0, scores.Elements, rowLow, c0);
            terms.N1.Apply(ref s.N1, scores.Elements, rowLow, c0 + 8);
            terms.N2.Apply(ref s.N2, scores.Elements, rowLow, c0 + 16);
            terms.N3.Apply(ref s.N3, scores.Elements, rowLow, c0 + 24);
            if (columns > 32)
            {
                terms.N4.Apply(ref s.N4, scores.Elements, rowLow, c0 + 32);
                terms.N5.Apply(ref s.N5, scores.Elements, rowLow, c0 + 40);
                terms.N6.Apply(ref s.N6, scores.Elements, rowLow, c0 + 48);
                terms.N7.Apply(ref s.N7, scores.Elements, rowLow, c0 + 56);
            }
        }
        else if (tensors ? scores.IsActive : pointwise && scores.HasPointwise)
        {
            Modify(ref s.N0, scores, tensors, prefetched, terms.N0, rowLow, c0);
            Modify(ref s.N1, scores, tensors, prefetched, terms.N1, rowLow, c0 + 8);
            Modify(ref s.N2, scores, tensors, prefetched, terms.N2, rowLow, c0 + 16);
            Modify(ref s.N3, scores, tensors, prefetched, terms.N3, rowLow, c0 + 24);
            if (columns > 32)
            {
                Modify(ref s.N4, scores, tensors, prefetched, terms.N4, rowLow, c0 + 32);
                Modify(ref s.N5, scores, tensors, prefetched, terms.N5, rowLow, c0 + 40);
                Modify(ref s.N6, scores, tensors, prefetched, terms.N6, rowLow, c0 + 48);
                Modify(ref s.N7, scores, tensors, prefetched, terms.N7, rowLow, c0 + 56);
            }
        }
        // A packed mask (compile-time bitMask) the product did not start from: one bit test per score, skipped by the whole
        // warp when it keeps every score of the tile. S may still be raw here: -inf stays -inf under the fused scale.
        if (bitMask && !seeded && !WarpVote.All<TTarget>(keep.KeepsAll(columns)))
            keep.Apply(ref s, columns);
        if (applyMask)
        {
            Mask(ref s.N0, mask, rowLow, c0);
            Mask(ref s.N1, mask, rowLow, c0 + 8);
            Mask(ref s.N2, mask, rowLow, c0 + 16);
            Mask(ref s.N3, mask, rowLow, c0 + 24);
            if (columns > 32)
            {
                Mask(ref s.N4, mask, rowLow, c0 + 32);
                Mask(ref s.N5, mask, rowLow, c0 + 40);
                Mask(ref s.N6, mask, rowLow, c0 + 48);
                Mask(ref s.N7, mask, rowLow, c0 + 56);
            }
        }

        float maxLow = XMath.Max(XMath.Max(Low(s.N0), Low(s.N1)), XMath.Max(Low(s.N2), Low(s.N3)));
        float maxHigh = XMath.Max(XMath.Max(High(s.N0), High(s.N1)), XMath.Max(High(s.N2), High(s.N3)));
        if (columns > 32)
        {
            maxLow = XMath.Max(maxLow, XMath.Max(XMath.Max(Low(s.N4), Low(s.N5)), XMath.Max(Low(s.N6), Low(s.N7))));
            maxHigh = XMath.Max(maxHigh, XMath.Max(XMath.Max(High(s.N4), High(s.N5)), XMath.Max(High(s.N6), High(s.N7))));
        }
        maxLow = QuadMax(maxLow) * k;
        maxHigh = QuadMax(maxHigh) * k;
        // m moves only when the tile passes it by more than LazyRescale.Threshold: alpha is 1 on almost every later tile.
        float newLow = LazyRescale.Next(MLow, maxLow);
        float newHigh = LazyRescale.Next(MHigh, maxHigh);
        // A row that has seen only masked keys keeps m = -inf; exponentiate against 0 then (p = 0, no NaN).
        float safeLow = newLow == float.NegativeInfinity ? 0f : newLow;
        float safeHigh = newHigh == float.NegativeInfinity ? 0f : newHigh;
        float alphaLow = FastExp2.Of<TTarget>(MLow - safeLow);
        float alphaHigh = FastExp2.Of<TTarget>(MHigh - safeHigh);
        float sumLow = 0f, sumHigh = 0f;
        Exponentiate<TTarget>(ref s.N0, k, safeLow, safeHigh, ref sumLow, ref sumHigh);
        Exponentiate<TTarget>(ref s.N1, k, safeLow, safeHigh, ref sumLow, ref sumHigh);
        Exponentiate<TTarget>(ref s.N2, k, safeLow, safeHigh, ref sumLow, ref sumHigh);
        Exponentiate<TTarget>(ref s.N3, k, safeLow, safeHigh, ref sumLow, ref sumHigh);
        if (columns > 32)
        {
            Exponentiate<TTarget>(ref s.N4, k, safeLow, safeHigh, ref sumLow, ref sumHigh);
            Exponentiate<TTarget>(ref s.N5, k, safeLow, safeHigh, ref sumLow, ref sumHigh);
            Exponentiate<TTarget>(ref s.N6, k, safeLow, safeHigh, ref sumLow, ref sumHigh);
            Exponentiate<TTarget>(ref s.N7, k, safeLow, safeHigh, ref sumLow, ref sumHigh);
        }
        // l sums the undropped P (FlashAttention-2's statistics); only the P V product sees the dropout.
        if (dropping)
        {
            Drop(ref s.N0, dropout, rowLow, c0);
            Drop(ref s.N1, dropout, rowLow, c0 + 8);
            Drop(ref s.N2, dropout, rowLow, c0 + 16);
            Drop(ref s.N3, dropout, rowLow, c0 + 24);
            if (columns > 32)
            {
                Drop(ref s.N4, dropout, rowLow, c0 + 32);
                Drop(ref s.N5, dropout, rowLow, c0 + 40);
                Drop(ref s.N6, dropout, rowLow, c0 + 48);
                Drop(ref s.N7, dropout, rowLow, c0 + 56);
            }
        }
        LLow = LLow * alphaLow + sumLow;
        LHigh = LHigh * alphaHigh + sumHigh;
        MLow = newLow;
        MHigh = newHigh;
        return (alphaLow, alphaHigh);
    }

    /// <summary>The full row sums (reduced over the quad), for the end of the key loop.</summary>
    public readonly (float Low, float High) RowSums() => (QuadSum(LLow), QuadSum(LHigh));

    /// <summary>
    /// Soft cap and ALiBi, then (<paramref name="tensors"/>) the bias and mask elements: those the
    /// kernel loaded ahead (<paramref name="prefetched"/> and <see cref="ScoreBias.PairAligned"/>) or,
    /// where it did not, read here one by one.
    /// </summary>
    private static void Modify(ref FragmentC c, in ScoreModifier scores, bool tensors, bool prefetched, in BiasTerms terms, int rowLow, int col)
    {
        if (tensors && (!prefetched || scores.Elements.PairAligned == 0))
        {
            c.C0 = scores.Apply(c.C0, rowLow, col);
            c.C1 = scores.Apply(c.C1, rowLow, col + 1);
            c.C2 = scores.Apply(c.C2, rowLow + 8, col);
            c.C3 = scores.Apply(c.C3, rowLow + 8, col + 1);
            return;
        }
        c.C0 = scores.ApplyPointwise(c.C0, rowLow, col);
        c.C1 = scores.ApplyPointwise(c.C1, rowLow, col + 1);
        c.C2 = scores.ApplyPointwise(c.C2, rowLow + 8, col);
        c.C3 = scores.ApplyPointwise(c.C3, rowLow + 8, col + 1);
        if (tensors)
            terms.Apply(ref c, scores.Elements, rowLow, col);
    }

    /// <summary>
    /// P * Z / (1 - p) for a lane's four values: columns col and col + 1 of rows rowLow and rowLow + 8.
    /// One Philox block serves an aligned run of four keys of one row, and lanes q and q ^ 1 hold the
    /// two halves of the same run (col is even): the even lane draws row rowLow's block, the odd lane
    /// row rowLow + 8's, and they swap the two words the other needs, so each block is drawn once.
    /// </summary>
    private static void Drop(ref FragmentC c, in Dropout dropout, int rowLow, int col)
    {
        bool odd = (Warp.LaneIdx & 1) != 0;
        var mine = dropout.Block(odd ? rowLow + 8 : rowLow, col);
        // Even lane (keys 0-1 of the run) sends row rowLow's words 2-3; odd lane (keys 2-3) sends row rowLow + 8's words 0-1.
        uint first = Warp.ShuffleXor(odd ? mine.X0 : mine.X2, 1);
        uint second = Warp.ShuffleXor(odd ? mine.X1 : mine.X3, 1);
        uint low0 = odd ? first : mine.X0, low1 = odd ? second : mine.X1;
        uint high0 = odd ? mine.X2 : first, high1 = odd ? mine.X3 : second;
        c.C0 *= low0 >= dropout.Threshold ? dropout.KeepScale : 0f;
        c.C1 *= low1 >= dropout.Threshold ? dropout.KeepScale : 0f;
        c.C2 *= high0 >= dropout.Threshold ? dropout.KeepScale : 0f;
        c.C3 *= high1 >= dropout.Threshold ? dropout.KeepScale : 0f;
    }

    private static void Mask(ref FragmentC c, AttentionMask mask, int rowLow, int col)
    {
        c.C0 = mask.IsMasked(rowLow, col) ? float.NegativeInfinity : c.C0;
        c.C1 = mask.IsMasked(rowLow, col + 1) ? float.NegativeInfinity : c.C1;
        c.C2 = mask.IsMasked(rowLow + 8, col) ? float.NegativeInfinity : c.C2;
        c.C3 = mask.IsMasked(rowLow + 8, col + 1) ? float.NegativeInfinity : c.C3;
    }

    /// <summary>P = 2^(s k - m): <paramref name="k"/> is the scale when S is raw, 1 when it is already scaled.</summary>
    private static void Exponentiate<TTarget>(ref FragmentC c, float k, float mLow, float mHigh, ref float sumLow, ref float sumHigh)
        where TTarget : struct, ITensorCoreTarget
    {
        c.C0 = FastExp2.Of<TTarget>(c.C0 * k - mLow);
        c.C1 = FastExp2.Of<TTarget>(c.C1 * k - mLow);
        c.C2 = FastExp2.Of<TTarget>(c.C2 * k - mHigh);
        c.C3 = FastExp2.Of<TTarget>(c.C3 * k - mHigh);
        sumLow += c.C0 + c.C1;
        sumHigh += c.C2 + c.C3;
    }

    private static float Low(in FragmentC c) => XMath.Max(c.C0, c.C1);

    private static float High(in FragmentC c) => XMath.Max(c.C2, c.C3);

    private static float QuadMax(float x)
    {
        x = XMath.Max(x, Warp.ShuffleXor(x, 1));
        return XMath.Max(x, Warp.ShuffleXor(x, 2));
    }

    private static float QuadSum(float x)
    {
        x += Warp.ShuffleXor(x, 1);
        return x + Warp.ShuffleXor(x, 2);
    }
}
