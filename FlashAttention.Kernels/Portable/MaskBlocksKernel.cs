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
/// instead of computing them only to set every score to -inf.
/// </summary>
/// <remarks>
/// One block per thread and a fixed trip count: rows past seqlen_q re-read the last row and words
/// past a row's end re-read its last word, which change nothing in an OR (ILGPU marks branches
/// <c>bra.uni</c>, so no loop may end early for some threads of a warp; see <see cref="MaskBitsKernel"/>).
/// </remarks>
public static class MaskBlocksKernel
{
    /// <summary>Queries and keys per block: every tile of the tensor-core kernels lies inside one.</summary>
    public const int BlockSize = 128;

    /// <summary>Block <paramref name="index"/> of the planes: 1 when any of its bits is set, else 0.</summary>
    public static void Run(Index1D index, ArrayView<uint> words, ArrayView<byte> blocks, MaskBlocksShape shape)
    {
        long b = index;
        long perPlane = (long)shape.QueryBlocks * shape.KeyBlocks;
        long plane = b / perPlane;
        int qb = (int)(b - plane * perPlane) / shape.KeyBlocks;
        int kb = (int)(b - plane * perPlane) - qb * shape.KeyBlocks;
        const int wordsPerBlock = BlockSize / 32;
        uint any = 0;
        for (int r = 0; r < BlockSize; r++)
        {
            long row = plane * shape.SeqLenQ + Math.Min(qb * BlockSize + r, shape.SeqLenQ - 1);
            for (int w = 0; w < wordsPerBlock; w++)
                any |= words[row * shape.WordsPerRow + Math.Min(kb * wordsPerBlock + w, shape.WordsPerRow - 1)];
        }
        blocks[b] = any != 0 ? (byte)1 : (byte)0;
    }
}
