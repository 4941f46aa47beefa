namespace FlashAttention.Kernels.Portable;

/// <summary>
/// How a streaming-decode lane set turns one step's keys into the probabilities p of its rows
/// (<see cref="DecodeStreamKernel"/>): the scores S = q · k summed over the lanes that share a key row,
/// then the online softmax (m, l, alpha, acc rescaled). A type parameter, not a flag, so each way is its
/// own compiled kernel and neither carries the other's registers: <see cref="DecodeButterflyScores"/>
/// (every lane sums every score and runs every row's softmax) and <see cref="DecodeTransposedScores{TTarget}"/>
/// (the sums are scattered, one row's softmax a lane, p and alpha handed back).
/// </summary>
internal interface IDecodeStepScores
{
    /// <summary>Before the key loop, with the rows' q and limits in place (lanes <paramref name="keys"/> apart in key order).</summary>
    void Begin(in DecodeStreamRows rows, int slot, int keys);

    /// <summary>The step's scores from its raw keys (<paramref name="unroll"/> of them).</summary>
    void Score<T, TVec>(ref DecodeStreamRows rows, in DecodeStreamStep keys, int unroll, int laneRows, int lanesPerKey)
        where T : unmanaged
        where TVec : struct, IVectorElements<T>;

    /// <summary>
    /// The online softmax over the step's keys (firstKey + u * keys): hidden keys dropped, every row's acc
    /// rescaled by its alpha, and S0..S3 of every row in this lane replaced by p, ready for acc += p v.
    /// </summary>
    void Softmax(ref DecodeStreamRows rows, int firstKey, int keys, int unroll, int laneRows);

    /// <summary>After the key loop: every row's m and l in every lane, as the team merge (<see cref="DecodeTeamMerge"/>) reads them.</summary>
    void Finish(ref DecodeStreamRows rows);
}
