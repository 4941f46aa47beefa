namespace FlashAttention.Kernels.Portable;

/// <summary>
/// The default step (<see cref="IDecodeStepScores"/>): each (row, key) score is summed by a full xor
/// butterfly, so every lane of the team ends with every score and runs the online softmax of every row
/// itself (<see cref="DecodeStreamRow"/>); m and l live in every lane from the start.
/// </summary>
internal struct DecodeButterflyScores : IDecodeStepScores
{
    /// <inheritdoc/>
    public void Begin(in DecodeStreamRows rows, int slot, int keys)
    {
    }

    /// <inheritdoc/>
    public void Score<T, TVec>(ref DecodeStreamRows rows, in DecodeStreamStep keys, int unroll, int laneRows, int lanesPerKey)
        where T : unmanaged
        where TVec : struct, IVectorElements<T>
    {
        rows.Score(default(TVec).Widen(keys.R0), 0, laneRows, lanesPerKey);
        rows.Score(default(TVec).Widen(keys.R1), 1, laneRows, lanesPerKey);
        if (unroll > 2)
        {
            rows.Score(default(TVec).Widen(keys.R2), 2, laneRows, lanesPerKey);
            rows.Score(default(TVec).Widen(keys.R3), 3, laneRows, lanesPerKey);
        }
    }

    /// <inheritdoc/>
    public void Softmax(ref DecodeStreamRows rows, int firstKey, int keys, int unroll, int laneRows) =>
        rows.Softmax(firstKey, keys, unroll, laneRows);

    /// <inheritdoc/>
    public void Finish(ref DecodeStreamRows rows)
    {
    }
}
