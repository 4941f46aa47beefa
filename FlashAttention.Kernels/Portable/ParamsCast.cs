namespace FlashAttention.Kernels.Portable;

/// <summary>Reinterprets the element type of a launch's tensors (same size), e.g. Half as its raw ushort bits.</summary>
public static class ParamsCast
{
    /// <summary>The same launch with every tensor viewed as <typeparamref name="TTo"/>.</summary>
    public static ForwardParams<TTo> As<TFrom, TTo>(this in ForwardParams<TFrom> p)
        where TFrom : unmanaged
        where TTo : unmanaged => new()
    {
        Q = p.Q.As<TFrom, TTo>(),
        K = p.K.As<TFrom, TTo>(),
        V = p.V.As<TFrom, TTo>(),
        O = p.O.As<TFrom, TTo>(),
        Lse = p.Lse,
        WriteLse = p.WriteLse,
        SeqLenQ = p.SeqLenQ,
        SeqLenK = p.SeqLenK,
        HeadsQ = p.HeadsQ,
        HeadDim = p.HeadDim,
        QueryHeadsPerKvHead = p.QueryHeadsPerKvHead,
        ScaleLog2 = p.ScaleLog2,
        RawBiasUnit = p.RawBiasUnit,
        Mask = p.Mask,
        Scores = p.Scores,
        Dropout = p.Dropout,
        Blocks = p.Blocks,
        VectorAligned = p.VectorAligned,
        Sequences = p.Sequences,
        Bits = p.Bits,
    };

    /// <summary>The same backward launch with every tensor viewed as <typeparamref name="TTo"/>.</summary>
    public static BackwardParams<TTo> As<TFrom, TTo>(this in BackwardParams<TFrom> p)
        where TFrom : unmanaged
        where TTo : unmanaged => new()
    {
        Q = p.Q.As<TFrom, TTo>(),
        K = p.K.As<TFrom, TTo>(),
        V = p.V.As<TFrom, TTo>(),
        O = p.O.As<TFrom, TTo>(),
        DO = p.DO.As<TFrom, TTo>(),
        DQ = p.DQ.As<TFrom, TTo>(),
        DK = p.DK.As<TFrom, TTo>(),
        DV = p.DV.As<TFrom, TTo>(),
        Lse = p.Lse,
        Delta = p.Delta,
        SeqLenQ = p.SeqLenQ,
        SeqLenK = p.SeqLenK,
        HeadsQ = p.HeadsQ,
        HeadDim = p.HeadDim,
        QueryHeadsPerKvHead = p.QueryHeadsPerKvHead,
        Scale = p.Scale,
        ScaleLog2 = p.ScaleLog2,
        Mask = p.Mask,
        Scores = p.Scores,
        Dropout = p.Dropout,
        Blocks = p.Blocks,
        Sequences = p.Sequences,
        VectorAligned = p.VectorAligned,
    };

    internal static StridedTensor<TTo> As<TFrom, TTo>(this StridedTensor<TFrom> t)
        where TFrom : unmanaged
        where TTo : unmanaged =>
        new(t.Data.Cast<TTo>(), t.BatchStride, t.RowStride, t.HeadStride) { Address = t.Address };
}
