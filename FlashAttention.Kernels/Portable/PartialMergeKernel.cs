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
        float max = float.NegativeInfinity;
        for (int i = 0; i < p.Parts; i++)
            max = XMath.Max(max, p.LsePartial[i * rows + row]);
        float o = 0f;
        float lse = float.NegativeInfinity;
        if (max != float.NegativeInfinity)
        {
            float sum = 0f;
            for (int i = 0; i < p.Parts; i++)
            {
                float w = XMath.Exp2((p.LsePartial[i * rows + row] - max) * 1.44269504088896341f);
                sum += w;
                o += w * p.OPartial[(i * rows + row) * p.HeadDim + d];
            }
            o /= sum;
            lse = max + XMath.Log2(sum) * 0.693147180559945309f;
        }
        int query = (int)(row % p.SeqLen);
        int head = (int)(row / p.SeqLen % p.Heads);
        int batch = (int)(row / p.SeqLen / p.Heads);
        p.O.Data[p.O.RowOffset(batch, query, head) + d] = default(TOps).FromFloat(o);
        if (d == 0 && p.WriteLse != 0)
            p.Lse[row] = lse;
    }

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
        float wa = XMath.Exp2((a - max) * 1.44269504088896341f);
        float wb = XMath.Exp2((b - max) * 1.44269504088896341f);
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
        p.Lse[row] = max + XMath.Log2(sum) * 0.693147180559945309f;
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
