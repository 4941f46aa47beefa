namespace FlashAttention.Kernels.Portable;

/// <summary>
/// The 1, 2, 4 or 8 query rows of a streaming-decode lane (<see cref="DecodeStreamRow"/>), each
/// operation applied to the first <c>rows</c> of them: rows is a compile-time constant, so every
/// guard folds away and the rows stay in registers (ILGPU keeps no arrays in registers).
/// </summary>
internal struct DecodeStreamRows
{
    /// <summary>The rows, in the kv head's row order.</summary>
    public DecodeStreamRow R0, R1, R2, R3, R4, R5, R6, R7;

    /// <summary>S_u of every row for the step's key <paramref name="u"/>.</summary>
    public void Score(in Float8 k, int u, int rows, int lanesPerKey)
    {
        R0.Score(k, u, lanesPerKey);
        if (rows > 1)
            R1.Score(k, u, lanesPerKey);
        if (rows > 2)
        {
            R2.Score(k, u, lanesPerKey);
            R3.Score(k, u, lanesPerKey);
        }
        if (rows > 4)
        {
            R4.Score(k, u, lanesPerKey);
            R5.Score(k, u, lanesPerKey);
            R6.Score(k, u, lanesPerKey);
            R7.Score(k, u, lanesPerKey);
        }
    }

    /// <summary>The online softmax of every row over the step's keys.</summary>
    public void Softmax(int firstKey, int keys, int unroll, int rows)
    {
        R0.Softmax(firstKey, keys, unroll);
        if (rows > 1)
            R1.Softmax(firstKey, keys, unroll);
        if (rows > 2)
        {
            R2.Softmax(firstKey, keys, unroll);
            R3.Softmax(firstKey, keys, unroll);
        }
        if (rows > 4)
        {
            R4.Softmax(firstKey, keys, unroll);
            R5.Softmax(firstKey, keys, unroll);
            R6.Softmax(firstKey, keys, unroll);
            R7.Softmax(firstKey, keys, unroll);
        }
    }

    /// <summary>acc += p_u v of every row for the step's key <paramref name="u"/>.</summary>
    public void Accumulate(in Float8 v, int u, int rows)
    {
        R0.Accumulate(v, u);
        if (rows > 1)
            R1.Accumulate(v, u);
        if (rows > 2)
        {
            R2.Accumulate(v, u);
            R3.Accumulate(v, u);
        }
        if (rows > 4)
        {
            R4.Accumulate(v, u);
            R5.Accumulate(v, u);
            R6.Accumulate(v, u);
            R7.Accumulate(v, u);
        }
    }

    /// <summary>Step 1 of the team merge for every row (R0 is the kv head's row <paramref name="first"/>).</summary>
    public readonly void PublishMax(in DecodeTeamMerge merge, int first, int rows)
    {
        merge.PublishMax(R0, first);
        if (rows > 1)
            merge.PublishMax(R1, first + 1);
        if (rows > 2)
        {
            merge.PublishMax(R2, first + 2);
            merge.PublishMax(R3, first + 3);
        }
        if (rows > 4)
        {
            merge.PublishMax(R4, first + 4);
            merge.PublishMax(R5, first + 5);
            merge.PublishMax(R6, first + 6);
            merge.PublishMax(R7, first + 7);
        }
    }

    /// <summary>Step 2 of the team merge for every row (R0 is the kv head's row <paramref name="first"/>).</summary>
    public readonly void PublishScaled(in DecodeTeamMerge merge, int first, int rows)
    {
        merge.PublishScaled(R0, first);
        if (rows > 1)
            merge.PublishScaled(R1, first + 1);
        if (rows > 2)
        {
            merge.PublishScaled(R2, first + 2);
            merge.PublishScaled(R3, first + 3);
        }
        if (rows > 4)
        {
            merge.PublishScaled(R4, first + 4);
            merge.PublishScaled(R5, first + 5);
            merge.PublishScaled(R6, first + 6);
            merge.PublishScaled(R7, first + 7);
        }
    }
}
