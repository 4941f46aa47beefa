using FlashAttention.Kernels.Numerics;
using ILGPU.Algorithms;

namespace FlashAttention.Kernels.Portable;

/// <summary>
/// Attention over a key set that was processed in parts (key splits of one device, or the blocks
/// of other devices in ring attention): part i gave, per query row, its output O_i normalised by its
/// own softmax sum and its log-sum-exp LSE_i. The whole is
/// LSE = log Σ_i exp(LSE_i), O = Σ_i exp(LSE_i - LSE) O_i. Parts that saw no key have LSE_i = -inf and
/// weigh nothing; a row whose parts all saw none gets O = 0, LSE = -inf (never NaN). Subtracting the
/// largest LSE_i first keeps every exponential in [0, 1].
/// </summary>
public static class PartialMergeKernel
{
    /// <summary>
    /// Merges <see cref="PartialMergeParams{T}.Parts"/> parts into O (any strides, element type T) and
    /// optionally LSE. One thread per output element (row, d); grid x covers rows * headdim.
    /// </summary>
    public static void Merge<T, TOps>(PartialMergeParams<T> p)
        where T : unmanaged
        where TOps : struct, IElementOps<T>
    {
        long idx = Grid.GlobalIndex.X;
        long rows = (long)p.Batch * p.Heads * p.SeqLen;
        if (idx >= rows * p.HeadDim)
            return;
        long row = idx / p.HeadDim;
        int d = (int)(idx - row * p.HeadDim);
        // Eight parts per step: the loads of a step are independent, so they wait out one memory
        // latency together (ILGPU does not unroll loops, and this kernel is all latency).
        float max = float.NegativeInfinity;
        for (int i = 0; i < p.Parts; i += 8)
        {
            float l0 = PartLse(p, i, row, rows), l1 = PartLse(p, i + 1, row, rows), l2 = PartLse(p, i + 2, row, rows), l3 = PartLse(p, i + 3, row, rows);
            float l4 = PartLse(p, i + 4, row, rows), l5 = PartLse(p, i + 5, row, rows), l6 = PartLse(p, i + 6, row, rows), l7 = PartLse(p, i + 7, row, rows);
            max = XMath.Max(max, XMath.Max(XMath.Max(XMath.Max(l0, l1), XMath.Max(l2, l3)), XMath.Max(XMath.Max(l4, l5), XMath.Max(l6, l7))));
        }
        float o = 0f;
        float lse = float.NegativeInfinity;
        if (max != float.NegativeInfinity)
        {
            float sum = 0f;
            for (int i = 0; i < p.Parts; i += 4)
            {
                float w0 = Weight(p, i, row, rows, max), w1 = Weight(p, i + 1, row, rows, max);
                float w2 = Weight(p, i + 2, row, rows, max), w3 = Weight(p, i + 3, row, rows, max);
                float o0 = PartO(p, i, row, rows, d), o1 = PartO(p, i + 1, row, rows, d);
                float o2 = PartO(p, i + 2, row, rows, d), o3 = PartO(p, i + 3, row, rows, d);
                sum += w0 + w1 + w2 + w3;
                o += Term(w0, o0) + Term(w1, o1) + Term(w2, o2) + Term(w3, o3);
            }
            o /= sum;
            lse = LogSumExp(max, sum);
        }
        int query = (int)(row % p.SeqLen);
        int head = (int)(row / p.SeqLen % p.Heads);
        int batch = (int)(row / p.SeqLen / p.Heads);
        p.O.Data[p.O.RowOffset(batch, query, head) + d] = default(TOps).FromFloat(o);
        if (d == 0 && p.WriteLse != 0)
            p.Lse[row] = lse;
    }

    /// <summary>LSE_i of a row; -inf past the last part.</summary>
    private static float PartLse<T>(in PartialMergeParams<T> p, int part, long row, long rows)
        where T : unmanaged =>
        part < p.Parts ? p.LsePartial[part * rows + row] : float.NegativeInfinity;

    /// <summary>exp(LSE_i - max) of a row: 0 past the last part and for a part that saw no key.</summary>
    private static float Weight<T>(in PartialMergeParams<T> p, int part, long row, long rows, float max)
        where T : unmanaged =>
        Weight(PartLse(p, part, row, rows), max);

    /// <summary>exp(<paramref name="lse"/> - <paramref name="max"/>), 0 for a part that saw no key (LSE -inf).</summary>
    internal static float Weight(float lse, float max) =>
        lse == float.NegativeInfinity ? 0f : XMath.Exp2((lse - max) * 1.44269504088896341f);

    /// <summary>The merged LSE (natural log) from the largest part LSE and the sum of the weights relative to it.</summary>
    internal static float LogSumExp(float max, float sum) => max + XMath.Log2(sum) * 0.693147180559945309f;

    /// <summary>w O_i, 0 when the part weighs nothing (whatever its O_i holds: a part that saw no key may have left garbage).</summary>
    private static float Term(float w, float o) => w == 0f ? 0f : w * o;

    /// <summary>O_i of an element; 0 past the last part (not read).</summary>
    private static float PartO<T>(in PartialMergeParams<T> p, int part, long row, long rows, int d)
        where T : unmanaged =>
        part < p.Parts ? p.OPartial[(part * rows + row) * p.HeadDim + d] : 0f;

    /// <summary>
    /// Folds one part (O_i, LSE_i) into a running float32 (O, LSE) in place, as ring attention does
    /// after each block arrives: LSE' = log(exp(LSE) + exp(LSE_i)), O' = exp(LSE - LSE') O + exp(LSE_i - LSE') O_i.
    /// A running state of O = 0 (any value), LSE = -inf is the empty start. One thread per row.
    /// </summary>
    public static void Fold(PartialFoldParams p)
    {
        long row = Grid.GlobalIndex.X;
        if (row >= p.Rows)
            return;
        float a = p.Lse[row];
        float b = p.LsePart[row];
        float max = XMath.Max(a, b);
        long at = row * p.HeadDim;
        if (max == float.NegativeInfinity)
        {
            for (int d = 0; d < p.HeadDim; d++)
                p.O[at + d] = 0f;
            return;
        }
        float wa = Weight(a, max);
        float wb = Weight(b, max);
        float sum = wa + wb;
        wa /= sum;
        wb /= sum;
        // An empty running state may hold garbage (0 * NaN = NaN): take only the part then.
        bool runningEmpty = a == float.NegativeInfinity;
        for (int d = 0; d < p.HeadDim; d++)
        {
            float part = wb * p.OPart[at + d];
            p.O[at + d] = runningEmpty ? part : wa * p.O[at + d] + part;
        }
        p.Lse[row] = LogSumExp(max, sum);
    }
}

/// <summary>The inputs and outputs of <see cref="PartialMergeKernel.Merge{T, TOps}"/>.</summary>
public struct PartialMergeParams<T> where T : unmanaged
{
    /// <summary>float32 [parts, batch * heads * seqlen, headdim]: each part's normalised output, rows in LSE order (b, h, i).</summary>
    public ArrayView<float> OPartial;

    /// <summary>float32 [parts, batch * heads * seqlen]: each part's LSE (natural log; -inf for a part that saw no key).</summary>
    public ArrayView<float> LsePartial;

    /// <summary>Output [batch, seqlen, heads, headdim], any strides.</summary>
    public StridedTensor<T> O;

    /// <summary>float32 [batch, heads, seqlen], written when <see cref="WriteLse"/> is 1.</summary>
    public ArrayView<float> Lse;

    /// <summary>1 to write <see cref="Lse"/>.</summary>
    public int WriteLse;

    /// <summary>Number of parts.</summary>
    public int Parts;

    /// <summary>Batch items.</summary>
    public int Batch;

    /// <summary>Heads.</summary>
    public int Heads;

    /// <summary>Query rows per head.</summary>
    public int SeqLen;

    /// <summary>Head dim.</summary>
    public int HeadDim;
}

/// <summary>The running state and the part of <see cref="PartialMergeKernel.Fold"/>, all float32, rows contiguous.</summary>
public struct PartialFoldParams
{
    /// <summary>Running output [rows, headdim], updated in place.</summary>
    public ArrayView<float> O;

    /// <summary>Running LSE [rows], updated in place.</summary>
    public ArrayView<float> Lse;

    /// <summary>The part's normalised output [rows, headdim].</summary>
    public ArrayView<float> OPart;

    /// <summary>The part's LSE [rows].</summary>
    public ArrayView<float> LsePart;

    /// <summary>Rows.</summary>
    public long Rows;

    /// <summary>Head dim.</summary>
    public int HeadDim;
}
