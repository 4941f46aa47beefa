namespace FlashAttention.Kernels.Portable;

/// <summary>
/// The boolean keep-mask packed one bit per (query, key) for the tensor-core kernel: bit j % 32 of
/// word j / 32 of a row, rows [mask batch | 1][mask heads | 1][seqlen_q][<see cref="WordsPerRow"/>],
/// made from the mask's bytes by <see cref="MaskBitsKernel"/>. A lane then fetches a tile row's 64
/// keys as two words where the byte mask took 32 loads, and applies each key with a bit test; bits
/// past seqlen_k are 0. With <see cref="Enabled"/> 0 the view is a real placeholder, never read.
/// </summary>
public struct MaskBits
{
    /// <summary>1 when <see cref="Words"/> holds the call's mask (the kernel is then compiled to read it).</summary>
    public int Enabled;

    /// <summary>Words per query row: an even number, so a 64-key tile's two words are an aligned pair.</summary>
    public int WordsPerRow;

    /// <summary>Query sequence length: padding rows past it read the last row (their results are discarded).</summary>
    public int SeqLenQ;

    /// <summary>The packed rows.</summary>
    public ArrayView<uint> Words;

    /// <summary>The byte address of <see cref="Words"/> on CUDA, for cp.async (<c>MaskStage</c>); set by the launcher.</summary>
    public ulong Address;

    /// <summary>Words between batch items (0 when the mask broadcasts over the batch).</summary>
    public long BatchStride;

    /// <summary>Words between heads (0 when the mask broadcasts over the heads).</summary>
    public long HeadStride;

    /// <summary>The first word of the current (batch, head); set by <see cref="ForHead"/>.</summary>
    public long Base;

    /// <summary>Words per row for <paramref name="seqLenK"/> keys.</summary>
    public static int WordsFor(int seqLenK) => (seqLenK + 63) / 64 * 2;

    /// <summary>This mask with the offset of (<paramref name="batch"/>, <paramref name="head"/>) set.</summary>
    public readonly MaskBits ForHead(int batch, int head)
    {
        var m = this;
        m.Base = batch * BatchStride + head * HeadStride;
        return m;
    }

    /// <summary>The index of word <paramref name="word"/> of query row <paramref name="row"/> (clamped into the sequence).</summary>
    public readonly long At(int row, int word) => Base + (long)Math.Min(row, SeqLenQ - 1) * WordsPerRow + word;
}

/// <summary>Shape of a <see cref="MaskBitsKernel"/> launch.</summary>
public struct MaskBitsShape
{
    /// <summary>Keys per mask row.</summary>
    public int SeqLenK;

    /// <summary>Words per packed row (<see cref="MaskBits.WordsFor"/>).</summary>
    public int WordsPerRow;
}

/// <summary>Packs a boolean mask (bytes, nonzero = keep, [planes][seqlen_q][seqlen_k] contiguous) into <see cref="MaskBits"/> rows.</summary>
/// <remarks>
/// One word per thread, a fixed 32-step loop and no branch in it: every thread of a warp runs the
/// same instructions. ILGPU 1.5.3 emits <c>bra.uni</c> ("the warp takes this branch together") for
/// the branches of a kernel, whether or not they diverge; with a loop whose trip count differed
/// between the threads of a warp (the keys left in a row's last word) the H100 lost bits of the
/// words (MaskBitsTests on CUDA).
/// </remarks>
public static class MaskBitsKernel
{
    /// <summary>Word <paramref name="index"/>: the mask bytes of keys 32w .. 32w + 31 of its row (0 past seqlen_k).</summary>
    public static void Run(Index1D index, ArrayView<byte> mask, ArrayView<uint> words, MaskBitsShape shape)
    {
        long w = index;
        long row = w / shape.WordsPerRow;
        int firstKey = (int)(w - row * shape.WordsPerRow) * 32;
        long rowStart = row * shape.SeqLenK;
        uint bits = 0;
        for (int j = 0; j < 32; j++)
        {
            int key = firstKey + j;
            // 1 for a key inside the row, else 0 (and the read stays on the row's last byte).
            uint inside = (uint)((key - shape.SeqLenK) >> 31) & 1u;
            uint keep = Math.Min(mask[rowStart + Math.Min(key, shape.SeqLenK - 1)], (byte)1);
            bits |= (keep & inside) << j;
        }
        words[w] = bits;
    }
}
