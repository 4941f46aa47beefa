namespace FlashAttention.Kernels.Portable;

/// <summary>
/// How the portable forward kernel partitions its shared memory (all float32; the output
/// accumulator lives in registers, see <see cref="OutputBlock"/>). The host
/// uses it to size the launch and check the device limit; the kernel to find its tiles, with every
/// offset a compile-time constant there. Rows are padded by 4 floats: keeps 16-byte alignment and
/// spreads the transposed tile stores over more banks.
/// </summary>
public readonly struct ForwardSharedLayout
{
    /// <summary>Floats of padding after each row of a transposed tile.</summary>
    public const int Pad = 4;

    /// <summary>Q tile, transposed: [headdim][Br + Pad], pre-converted to float32.</summary>
    public readonly int QtOffset;

    /// <summary>Row length of the transposed Q tile.</summary>
    public readonly int QtStride;

    /// <summary>K tile transposed [headdim][Bc + Pad], then (same space) the V tile [Bc][headdim].</summary>
    public readonly int KvOffset;

    /// <summary>Row length of the transposed K tile.</summary>
    public readonly int KtStride;

    /// <summary>Scores, then probabilities, transposed: [Bc][Br + Pad].</summary>
    public readonly int PtOffset;

    /// <summary>Row length of the transposed score tile.</summary>
    public readonly int PtStride;

    /// <summary>Running row max m (log2 domain), [Br].</summary>
    public readonly int MOffset;

    /// <summary>Running row sum l, [Br].</summary>
    public readonly int LOffset;

    /// <summary>Per-row rescale factor of the current tile, later 1/l, [Br].</summary>
    public readonly int AlphaOffset;

    /// <summary>Total floats.</summary>
    public readonly int TotalFloats;

    /// <summary>Lays out the tiles of a kernel with the given compile-time shape.</summary>
    public ForwardSharedLayout(int headDim, int br, int bc)
    {
        QtStride = br + Pad;
        KtStride = bc + Pad;
        PtStride = br + Pad;
        QtOffset = 0;
        KvOffset = QtOffset + headDim * QtStride;
        int kvFloats = Math.Max(headDim * KtStride, bc * headDim);
        PtOffset = KvOffset + kvFloats;
        MOffset = PtOffset + bc * PtStride;
        LOffset = MOffset + br;
        AlphaOffset = LOffset + br;
        TotalFloats = AlphaOffset + br;
    }

    /// <summary>Total bytes.</summary>
    public int TotalBytes => TotalFloats * sizeof(float);
}
