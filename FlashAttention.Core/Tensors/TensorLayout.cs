namespace FlashAttention;

/// <summary>
/// Where the elements of a logical [batch, seqlen, heads, headdim] tensor sit in a flat buffer:
/// an element offset and three strides (headdim is contiguous). The same logical tensor can be
/// stored [batch, seqlen, heads, headdim] (<see cref="Bshd"/>, FlashAttention's layout) or
/// [batch, heads, seqlen, headdim] (<see cref="Bhsd"/>, PyTorch's SDPA layout), or be a slice of a
/// packed qkv buffer (<see cref="PackedQkv"/>).
/// </summary>
/// <param name="Batch">Batch items.</param>
/// <param name="SeqLen">Sequence positions.</param>
/// <param name="Heads">Heads.</param>
/// <param name="HeadDim">Elements per head (contiguous).</param>
/// <param name="BatchStride">Elements between consecutive batch items.</param>
/// <param name="SeqStride">Elements between consecutive sequence positions.</param>
/// <param name="HeadStride">Elements between consecutive heads.</param>
/// <param name="Offset">Element index of (0, 0, 0, 0).</param>
public readonly record struct TensorLayout(
    int Batch, int SeqLen, int Heads, int HeadDim,
    long BatchStride, long SeqStride, long HeadStride, long Offset = 0)
{
    /// <summary>Contiguous [batch, seqlen, heads, headdim].</summary>
    public static TensorLayout Bshd(int batch, int seqLen, int heads, int headDim) =>
        new(batch, seqLen, heads, headDim,
            (long)seqLen * heads * headDim, (long)heads * headDim, headDim);

    /// <summary>Contiguous [batch, heads, seqlen, headdim] memory, seen as the logical [batch, seqlen, heads, headdim].</summary>
    public static TensorLayout Bhsd(int batch, int heads, int seqLen, int headDim) =>
        new(batch, seqLen, heads, headDim,
            (long)heads * seqLen * headDim, headDim, (long)seqLen * headDim);

    /// <summary>The q, k and v slices of a packed [batch, seqlen, 3, heads, headdim] buffer.</summary>
    public static (TensorLayout Q, TensorLayout K, TensorLayout V) PackedQkv(int batch, int seqLen, int heads, int headDim)
    {
        long head = headDim, pos = 3L * heads * headDim, item = pos * seqLen;
        long part = (long)heads * headDim;
        return (new(batch, seqLen, heads, headDim, item, pos, head, 0),
                new(batch, seqLen, heads, headDim, item, pos, head, part),
                new(batch, seqLen, heads, headDim, item, pos, head, 2 * part));
    }

    /// <summary>The k and v slices of a packed [batch, seqlen, 2, heads, headdim] buffer.</summary>
    public static (TensorLayout K, TensorLayout V) PackedKv(int batch, int seqLen, int heads, int headDim)
    {
        long head = headDim, pos = 2L * heads * headDim, item = pos * seqLen;
        long part = (long)heads * headDim;
        return (new(batch, seqLen, heads, headDim, item, pos, head, 0),
                new(batch, seqLen, heads, headDim, item, pos, head, part));
    }

    /// <summary>Number of logical elements.</summary>
    public long ElementCount => (long)Batch * SeqLen * Heads * HeadDim;

    /// <summary>Flat index of element (b, s, h, d).</summary>
    public long IndexOf(int b, int s, int h, int d) => Offset + b * BatchStride + s * SeqStride + h * HeadStride + d;

    /// <summary>The smallest buffer length that holds every element (0 when a dimension is 0).</summary>
    public long RequiredLength =>
        Batch <= 0 || SeqLen <= 0 || Heads <= 0 || HeadDim <= 0
            ? 0
            : IndexOf(Batch - 1, SeqLen - 1, Heads - 1, HeadDim - 1) + 1;

    /// <summary>Whether this layout has the same logical shape as <paramref name="other"/>.</summary>
    public bool SameShape(TensorLayout other) =>
        Batch == other.Batch && SeqLen == other.SeqLen && Heads == other.Heads && HeadDim == other.HeadDim;

    /// <summary>The shape as text, e.g. [2, 128, 8, 64].</summary>
    public string ShapeText => $"[{Batch}, {SeqLen}, {Heads}, {HeadDim}]";
}
