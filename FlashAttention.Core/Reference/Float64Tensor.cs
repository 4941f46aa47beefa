namespace FlashAttention.Reference;

/// <summary>A float64 tensor for the reference: values and where they sit.</summary>
/// <param name="Data">The values.</param>
/// <param name="Layout">Logical [batch, seqlen, heads, headdim] layout of <paramref name="Data"/>.</param>
public sealed record Float64Tensor(double[] Data, TensorLayout Layout)
{
    /// <summary>Element (b, s, h, d).</summary>
    public double this[int b, int s, int h, int d] => Data[Layout.IndexOf(b, s, h, d)];

    /// <summary>The exact float64 values of a host tensor, contiguous [batch, seqlen, heads, headdim].</summary>
    public static Float64Tensor From<T>(HostTensor<T> tensor) where T : unmanaged
    {
        var l = tensor.Layout;
        var data = new double[l.ElementCount];
        long at = 0;
        for (int b = 0; b < l.Batch; b++)
        for (int s = 0; s < l.SeqLen; s++)
        for (int h = 0; h < l.Heads; h++)
        for (int d = 0; d < l.HeadDim; d++)
            data[at++] = Elements.ToSingle(tensor[b, s, h, d]);
        return new Float64Tensor(data, TensorLayout.Bshd(l.Batch, l.SeqLen, l.Heads, l.HeadDim));
    }

    /// <summary>A zero tensor of the given contiguous shape.</summary>
    public static Float64Tensor Zeros(int batch, int seqLen, int heads, int headDim) =>
        new(new double[(long)batch * seqLen * heads * headDim], TensorLayout.Bshd(batch, seqLen, heads, headDim));
}
