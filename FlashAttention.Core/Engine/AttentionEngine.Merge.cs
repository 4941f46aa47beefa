using FlashAttention.Kernels.Portable;

namespace FlashAttention;

public sealed partial class AttentionEngine
{
    /// <summary>
    /// Merges attention computed over disjoint parts of the keys (split-KV decoding, or the blocks of
    /// ring attention): part i holds, per query row, its output normalised by its own softmax sum and its
    /// natural-log LSE (-inf when it saw no key). Writes O = Σ exp(LSE_i - LSE) O_i and LSE = log Σ exp(LSE_i);
    /// rows no part saw get O = 0 and LSE = -inf. Launches asynchronously on the default stream.
    /// </summary>
    /// <param name="outputParts">float32 [parts, batch * heads * seqlen, headdim], rows in LSE order (b, h, i).</param>
    /// <param name="lseParts">float32 [parts, batch * heads * seqlen].</param>
    /// <param name="parts">Number of parts (at least 1).</param>
    /// <param name="output">[batch, seqlen, heads, headdim], any layout; overwritten.</param>
    /// <param name="lse">float32 [batch, heads, seqlen], or an empty view to skip it.</param>
    public void MergePartials<T>(ArrayView<float> outputParts, ArrayView<float> lseParts, int parts, DeviceTensor<T> output,
        ArrayView<float> lse) where T : unmanaged
    {
        ThrowIfDisposed();
        AttentionValidator.ElementType<T>();
        var l = output.Layout;
        if (l.Batch <= 0 || l.SeqLen <= 0 || l.Heads <= 0 || l.HeadDim <= 0)
            throw new ArgumentException($"output: shape is {l.ShapeText}; expected every dimension at least 1", nameof(output));
        AttentionValidator.Fits(l, output.View.Length, nameof(output));
        if (parts < 1)
            throw new ArgumentException($"parts: is {parts}; expected at least 1", nameof(parts));
        long rows = (long)l.Batch * l.Heads * l.SeqLen;
        if (outputParts.Length != parts * rows * l.HeadDim)
            throw new ArgumentException(
                $"outputParts: length is {outputParts.Length}; expected parts * batch * heads * seqlen * headdim = {parts * rows * l.HeadDim}", nameof(outputParts));
        if (lseParts.Length != parts * rows)
            throw new ArgumentException($"lseParts: length is {lseParts.Length}; expected parts * batch * heads * seqlen = {parts * rows}", nameof(lseParts));
        if (lse.Length != 0 && lse.Length != rows)
            throw new ArgumentException($"lse: length is {lse.Length}; expected batch * heads * seqlen = {rows} (or empty)", nameof(lse));
        decodeNoFloats ??= Accelerator.Allocate1D<float>(1);
        DecodeKernels.Merge(Accelerator.DefaultStream, new PartialMergeParams<T>
        {
            OPartial = outputParts, LsePartial = lseParts, O = output.ToKernel(),
            Lse = lse.Length != 0 ? lse : decodeNoFloats.View, WriteLse = lse.Length != 0 ? 1 : 0,
            Parts = parts, Batch = l.Batch, Heads = l.Heads, SeqLen = l.SeqLen, HeadDim = l.HeadDim,
        });
    }

    /// <summary>
    /// Folds one part (its normalised output and LSE) into a running float32 (O, LSE) in place, as ring
    /// attention does after each block of keys: LSE' = log(exp(LSE) + exp(LSE_part)),
    /// O' = exp(LSE - LSE') O + exp(LSE_part - LSE') O_part. Start from LSE = -inf (O is then ignored).
    /// Launches asynchronously on the default stream.
    /// </summary>
    /// <param name="output">Running output float32 [rows, headdim].</param>
    /// <param name="lse">Running LSE float32 [rows].</param>
    /// <param name="outputPart">The part's output [rows, headdim].</param>
    /// <param name="lsePart">The part's LSE [rows].</param>
    /// <param name="headDim">Head dim (at least 1).</param>
    public void FoldPartial(ArrayView<float> output, ArrayView<float> lse, ArrayView<float> outputPart, ArrayView<float> lsePart, int headDim)
    {
        ThrowIfDisposed();
        if (headDim < 1)
            throw new ArgumentException($"headDim: is {headDim}; expected at least 1", nameof(headDim));
        long rows = lse.Length;
        if (rows < 1)
            throw new ArgumentException("lse: is empty; expected one float per row (at least 1)", nameof(lse));
        if (output.Length != rows * headDim)
            throw new ArgumentException($"output: length is {output.Length}; expected rows * headDim = {rows * headDim}", nameof(output));
        if (lsePart.Length != rows)
            throw new ArgumentException($"lsePart: length is {lsePart.Length}; expected lse's {rows} rows", nameof(lsePart));
        if (outputPart.Length != rows * headDim)
            throw new ArgumentException($"outputPart: length is {outputPart.Length}; expected rows * headDim = {rows * headDim}", nameof(outputPart));
        DecodeKernels.Fold(Accelerator.DefaultStream, new PartialFoldParams
        {
            O = output, Lse = lse, OPart = outputPart, LsePart = lsePart, Rows = rows, HeadDim = headDim,
        });
    }
}
