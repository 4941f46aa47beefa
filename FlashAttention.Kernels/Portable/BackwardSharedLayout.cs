namespace FlashAttention.Kernels.Portable;

/// <summary>
/// Shared-memory plan of the two main backward kernels (all float32). Both hold a Q/dO tile
/// [Br][headdim], a K/V tile [Bc][headdim] (rows padded by <see cref="Pad"/>), the P and dS tiles
/// [Br][Bc], and per-row log2-domain LSE and D. The dK/dV kernel accumulates dK and dV [Bc][headdim];
/// the dQ kernel accumulates dQ [Br][headdim].
/// </summary>
public readonly struct BackwardSharedLayout
{
    /// <summary>Floats of padding after each row.</summary>
    public const int Pad = 4;

    /// <summary>Row length of Q, dO, K, V tiles.</summary>
    public readonly int RowStride;

    /// <summary>Row length of the P and dS tiles.</summary>
    public readonly int ScoreStride;

    /// <summary>Q tile [Br][RowStride].</summary>
    public readonly int QOffset;

    /// <summary>dO tile [Br][RowStride].</summary>
    public readonly int DOOffset;

    /// <summary>K tile [Bc][RowStride].</summary>
    public readonly int KOffset;

    /// <summary>V tile [Bc][RowStride].</summary>
    public readonly int VOffset;

    /// <summary>S, then P, [Br][ScoreStride].</summary>
    public readonly int POffset;

    /// <summary>dP, then dS, [Br][ScoreStride].</summary>
    public readonly int DSOffset;

    /// <summary>First accumulator: dK [Bc][headdim] (dK/dV kernel) or dQ [Br][headdim] (dQ kernel).</summary>
    public readonly int Acc0Offset;

    /// <summary>Second accumulator: dV [Bc][headdim] (dK/dV kernel only).</summary>
    public readonly int Acc1Offset;

    /// <summary>LSE * log2(e) per query row, [Br].</summary>
    public readonly int LseOffset;

    /// <summary>D per query row, [Br].</summary>
    public readonly int DeltaOffset;

    /// <summary>Total floats.</summary>
    public readonly int TotalFloats;

    /// <summary>Plans the dK/dV kernel (<paramref name="keyValueKernel"/>) or the dQ kernel.</summary>
    public BackwardSharedLayout(int headDim, int br, int bc, bool keyValueKernel)
    {
        RowStride = headDim + Pad;
        ScoreStride = bc + Pad;
        QOffset = 0;
        DOOffset = QOffset + br * RowStride;
        KOffset = DOOffset + br * RowStride;
        VOffset = KOffset + bc * RowStride;
        POffset = VOffset + bc * RowStride;
        DSOffset = POffset + br * ScoreStride;
        Acc0Offset = DSOffset + br * ScoreStride;
        Acc1Offset = Acc0Offset + (keyValueKernel ? bc : br) * headDim;
        LseOffset = Acc1Offset + (keyValueKernel ? bc * headDim : 0);
        DeltaOffset = LseOffset + br;
        TotalFloats = DeltaOffset + br;
    }

    /// <summary>Total bytes.</summary>
    public int TotalBytes => TotalFloats * sizeof(float);
}
