namespace FlashAttention;

/// <summary>The sizes one ring call shares across its devices (the sequence length is the layout's).</summary>
internal readonly record struct RingShape(int Batch, int HeadsQ, int HeadsKv, int HeadDim)
{
    /// <summary>Sequence-major [positions, batch, heads_q, headdim].</summary>
    public TensorLayout Queries(int positions) => RingShards.SequenceMajor(Batch, positions, HeadsQ, HeadDim);

    /// <summary>Sequence-major [positions, batch, heads_kv, headdim].</summary>
    public TensorLayout Keys(int positions) => RingShards.SequenceMajor(Batch, positions, HeadsKv, HeadDim);

    /// <summary>Elements of <paramref name="positions"/> query positions.</summary>
    public long QueryElements(int positions) => (long)positions * Batch * HeadsQ * HeadDim;

    /// <summary>Elements of <paramref name="positions"/> key positions.</summary>
    public long KeyElements(int positions) => (long)positions * Batch * HeadsKv * HeadDim;

    /// <summary>LSE rows of <paramref name="positions"/> query positions (batch * heads_q * positions).</summary>
    public long Rows(int positions) => (long)Batch * HeadsQ * positions;

    /// <summary>
    /// LSE values [batch, heads_q, <paramref name="rowLength"/>] seen as a tensor of head dim 1, from position
    /// <paramref name="start"/> for <paramref name="positions"/>: how a chunk's LSE rows sit inside a shard's.
    /// </summary>
    public TensorLayout LseRows(int positions, int rowLength, int start) =>
        new(Batch, positions, HeadsQ, 1, (long)HeadsQ * rowLength, 1, rowLength, start);
}
