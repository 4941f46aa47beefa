using FlashAttention.Kernels.Numerics;
using ILGPU.Algorithms;

namespace FlashAttention.Kernels.Portable;

/// <summary>
/// Flash-decoding's merge of the key splits, done by the last split to finish instead of a second
/// kernel. Each split's group writes its O_i and LSE_i, makes them visible device-wide and counts
/// itself in on its (item, kv head)'s arrival counter; the group that arrives last merges that
/// (item, kv head)'s rows while the partials are still in L2 (the same sum as
/// <see cref="PartialMergeKernel.Merge{T, TOps}"/>) and sets the counter back to 0 for the next call.
/// On the H100 the separate merge kernel was a second launch whose loads of 32 parts ran as a chain
/// of dependent round trips: at batch 1 it was about a third of the call.
/// The counters ([batch, heads_kv] ints) start at 0 and every call leaves them at 0.
/// </summary>
internal static class DecodeSplitMerge
{
    /// <summary>Parts merged per step: their loads are issued together and wait out one latency.</summary>
    private const int PartsPerStep = 8;

    /// <summary>
    /// After this group wrote its split's partials: counts in and, in the group that arrives last,
    /// merges the <paramref name="rows"/> rows of (<paramref name="batch"/>, <paramref name="kvHead"/>) into O and LSE.
    /// <paramref name="shared"/> needs 1 + rows * splits floats; its previous contents are dead.
    /// </summary>
    public static void Run<T, TOps>(in DecodeParams<T> p, ArrayView<float> shared, int batch, int kvHead, int rows)
        where T : unmanaged
        where TOps : struct, IElementOps<T>
    {
        // Every thread's partial writes become visible before the group counts in (the release half).
        MemoryFence.DeviceLevel();
        Group.Barrier();
        int counter = batch * Grid.DimY + kvHead;
        if (Group.IdxX == 0)
            shared[0] = Atomic.Add(ref p.Arrivals[counter], 1) == p.NumSplits - 1 ? 1f : 0f;
        Group.Barrier();
        if (shared[0] == 0f)
            return; // group-uniform: another split merges
        MemoryFence.DeviceLevel(); // the acquire half: the other splits' partials are read after this

        int parts = p.NumSplits;
        var weights = shared.SubView(1, rows * parts);
        long rowsTotal = (long)Grid.DimZ * p.HeadsQ * p.SeqLenQ;
        for (int idx = Group.IdxX; idx < rows * parts; idx += Group.DimX)
        {
            int r = idx / parts;
            weights[idx] = p.LsePartial[(idx - r * parts) * rowsTotal + LseRow(p, batch, kvHead, r)];
        }
        Group.Barrier();
        Normalize(p, weights, batch, kvHead, rows, parts);
        Group.Barrier();
        Combine<T, TOps>(p, weights, batch, kvHead, rows, parts, rowsTotal);
        if (Group.IdxX == 0)
            p.Arrivals[counter] = 0;
    }

    /// <summary>
    /// One warp per row: turns the row's LSE_i in place into the weights exp(LSE_i - LSE) (0 for a
    /// part that saw no key) and writes the row's LSE. A row no part saw gets weights 0 and LSE -inf.
    /// </summary>
    private static void Normalize<T>(in DecodeParams<T> p, ArrayView<float> weights, int batch, int kvHead, int rows, int parts)
        where T : unmanaged
    {
        int warps = Group.DimX / Warp.WarpSize;
        for (int r = Group.IdxX / Warp.WarpSize; r < rows; r += warps)
        {
            float max = float.NegativeInfinity;
            for (int i = Warp.LaneIdx; i < parts; i += Warp.WarpSize)
                max = XMath.Max(max, weights[r * parts + i]);
            max = WarpMax(max);
            float sum = 0f;
            for (int i = Warp.LaneIdx; i < parts; i += Warp.WarpSize)
                sum += PartialMergeKernel.Weight(weights[r * parts + i], max);
            sum = WarpSum(sum);
            for (int i = Warp.LaneIdx; i < parts; i += Warp.WarpSize)
                weights[r * parts + i] = sum > 0f ? PartialMergeKernel.Weight(weights[r * parts + i], max) / sum : 0f;
            if (Warp.LaneIdx == 0 && p.WriteLse != 0)
                p.Lse[LseRow(p, batch, kvHead, r)] = sum > 0f ? PartialMergeKernel.LogSumExp(max, sum) : float.NegativeInfinity;
        }
    }

    /// <summary>O = Σ_i w_i O_i for each row and 4-dim slice, <see cref="PartsPerStep"/> parts' loads at a time.</summary>
    private static void Combine<T, TOps>(in DecodeParams<T> p, ArrayView<float> weights, int batch, int kvHead, int rows, int parts, long rowsTotal)
        where T : unmanaged
        where TOps : struct, IElementOps<T>
    {
        int dim4 = p.HeadDim / 4;
        for (int idx = Group.IdxX; idx < rows * dim4; idx += Group.DimX)
        {
            int r = idx / dim4;
            int d = (idx - r * dim4) * 4;
            long row = LseRow(p, batch, kvHead, r);
            var o = default(Float4);
            for (int i = 0; i < parts; i += PartsPerStep)
            {
                // Past the last part: the last part's slice is read again and weighs 0 (no load under a branch).
                var o0 = Part(p, i, parts, rowsTotal, row, d);
                var o1 = Part(p, i + 1, parts, rowsTotal, row, d);
                var o2 = Part(p, i + 2, parts, rowsTotal, row, d);
                var o3 = Part(p, i + 3, parts, rowsTotal, row, d);
                var o4 = Part(p, i + 4, parts, rowsTotal, row, d);
                var o5 = Part(p, i + 5, parts, rowsTotal, row, d);
                var o6 = Part(p, i + 6, parts, rowsTotal, row, d);
                var o7 = Part(p, i + 7, parts, rowsTotal, row, d);
                o = Term(o, PartWeight(weights, r, i, parts), o0);
                o = Term(o, PartWeight(weights, r, i + 1, parts), o1);
                o = Term(o, PartWeight(weights, r, i + 2, parts), o2);
                o = Term(o, PartWeight(weights, r, i + 3, parts), o3);
                o = Term(o, PartWeight(weights, r, i + 4, parts), o4);
                o = Term(o, PartWeight(weights, r, i + 5, parts), o5);
                o = Term(o, PartWeight(weights, r, i + 6, parts), o6);
                o = Term(o, PartWeight(weights, r, i + 7, parts), o7);
            }
            DecodeOutput.Row(p, kvHead, r, out int head, out int query);
            DecodeOutput.Store<T, TOps>(p.O.Data, p.O.RowOffset(batch, query, head) + d, d, p.HeadDim, o);
        }
    }

    private static Float4 Part<T>(in DecodeParams<T> p, int part, int parts, long rowsTotal, long row, int d)
        where T : unmanaged =>
        Float4.At(p.OPartial, ((XMath.Min(part, parts - 1) * rowsTotal + row) * p.HeadDim + d) >> 2);

    private static float PartWeight(ArrayView<float> weights, int r, int part, int parts) =>
        part < parts ? weights[r * parts + part] : 0f;

    /// <summary>acc + w O_i; nothing for a part of weight 0 (one that saw no key may have left anything in O_i).</summary>
    private static Float4 Term(Float4 acc, float w, Float4 o) => w == 0f ? acc : Float4.MultiplyAdd(acc, w, o);

    /// <summary>Row r of the kv head's rows in LSE order (b, h, i).</summary>
    private static long LseRow<T>(in DecodeParams<T> p, int batch, int kvHead, int r)
        where T : unmanaged
    {
        DecodeOutput.Row(p, kvHead, r, out int head, out int query);
        return ((long)batch * p.HeadsQ + head) * p.SeqLenQ + query;
    }

    private static float WarpMax(float x)
    {
        for (int m = Warp.WarpSize / 2; m > 0; m >>= 1)
            x = XMath.Max(x, Warp.ShuffleXor(x, m));
        return x;
    }

    private static float WarpSum(float x)
    {
        for (int m = Warp.WarpSize / 2; m > 0; m >>= 1)
            x += Warp.ShuffleXor(x, m);
        return x;
    }
}
