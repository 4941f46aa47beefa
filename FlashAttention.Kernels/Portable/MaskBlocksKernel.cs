namespace FlashAttention.Kernels.Portable;

/// <summary>Shape of a <see cref="MaskBlocksKernel"/> launch.</summary>
public struct MaskBlocksShape
{
    /// <summary>Query rows per mask plane.</summary>
    public int SeqLenQ;

    /// <summary>Words per packed row (<see cref="MaskBits.WordsFor"/>).</summary>
    public int WordsPerRow;

    /// <summary>Query blocks per plane: ceil(seqlen_q / <see cref="MaskBlocksKernel.BlockSize"/>).</summary>
    public int QueryBlocks;

    /// <summary>Key blocks per plane: ceil(seqlen_k / <see cref="MaskBlocksKernel.BlockSize"/>).</summary>
    public int KeyBlocks;
}

/// <summary>
/// The block mask a boolean mask implies: block (qb, kb) of a plane is visible when any pair of its
/// <see cref="BlockSize"/> x <see cref="BlockSize"/> queries and keys is kept, read from the packed
/// <see cref="MaskBits"/> rows ([planes][query blocks][key blocks] bytes, the layout of
/// <see cref="BlockSparsity"/>). With it the tensor-core kernel skips the tiles a structured mask
/// (documents, padding, an explicit causal mask) hides entirely, as it does for a user's block mask,
/// instead of computing them only to set every score to -inf. A hidden block also marks its row of
/// blocks in <c>hiddenRows</c> ([planes][query blocks], zeroed by the launcher): a row with no mark
/// (a mask that hides no whole block, like a random one) walks its tiles in order without reading a flag.
/// </summary>
/// <remarks>
/// One group of <see cref="BlockSize"/> threads per block, a thread per query row reading the row's
/// four words of the block (independent loads, in flight together), then one barrier-OR over the
/// group. Rows past seqlen_q re-read the last row and words past a row's end re-read its last word,
/// which change nothing in an OR. (A thread per block looping over its 128 rows waited out 512
/// dependent load latencies: 0.6-0.9 ms for an 8K x 8K mask on the H100, more than the skipping saved.)
/// grid = planes x query blocks x key blocks, <see cref="BlockSize"/> threads.
/// </remarks>
public static class MaskBlocksKernel
{
    /// <summary>Queries and keys per block: every tile of the tensor-core kernels lies inside one.</summary>
    public const int BlockSize = 128;

    /// <summary>Block Grid.IdxX of the planes: 1 when any of its bits is set, else 0.</summary>
    public static void Run(ArrayView<uint> words, ArrayView<byte> blocks, ArrayView<byte> hiddenRows, MaskBlocksShape shape)
    {
        long b = Grid.IdxX;
        long perPlane = (long)shape.QueryBlocks * shape.KeyBlocks;
        long plane = b / perPlane;
        int qb = (int)(b - plane * perPlane) / shape.KeyBlocks;
        int kb = (int)(b - plane * perPlane) - qb * shape.KeyBlocks;
        long row = (plane * shape.SeqLenQ + Math.Min(qb * BlockSize + Group.IdxX, shape.SeqLenQ - 1)) * shape.WordsPerRow;
        int first = kb * (BlockSize / 32), last = shape.WordsPerRow - 1;
        uint any = words[row + Math.Min(first, last)] | words[row + Math.Min(first + 1, last)]
                   | words[row + Math.Min(first + 2, last)] | words[row + Math.Min(first + 3, last)];
        bool kept = Group.BarrierOr(any != 0);
        if (Group.IdxX == 0)
        {
            blocks[b] = kept ? (byte)1 : (byte)0;
            if (!kept)
                hiddenRows[plane * shape.QueryBlocks + qb] = 1; // every writer writes the same byte
        }
    }
}
