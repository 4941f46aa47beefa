using ILGPU.Runtime;

namespace FlashAttention.Kernels.Portable;

/// <summary>Everything one forward launch needs besides its compile-time shape (FlashAttention-2's params struct).</summary>
public struct ForwardParams<T> where T : unmanaged
{
    /// <summary>Queries [batch, seqlen_q, heads_q, headdim].</summary>
    public StridedTensor<T> Q;

    /// <summary>Keys [batch, seqlen_k, heads_kv, headdim].</summary>
    public StridedTensor<T> K;

    /// <summary>Values [batch, seqlen_k, heads_kv, headdim].</summary>
    public StridedTensor<T> V;

    /// <summary>Output [batch, seqlen_q, heads_q, headdim].</summary>
    public StridedTensor<T> O;

    /// <summary>Log-sum-exp, float32 [batch, heads_q, seqlen_q] contiguous; written when <see cref="WriteLse"/> is 1.</summary>
    public ArrayView<float> Lse;

    /// <summary>1 to write <see cref="Lse"/>, 0 to skip it.</summary>
    public int WriteLse;

    /// <summary>Query sequence length.</summary>
    public int SeqLenQ;

    /// <summary>Key/value sequence length.</summary>
    public int SeqLenK;

    /// <summary>Number of query heads.</summary>
    public int HeadsQ;

    /// <summary>The real head dim (the kernel's compile-time head dim may be padded above it).</summary>
    public int HeadDim;

    /// <summary>heads_q / heads_kv: query heads that share one key/value head (1 for MHA).</summary>
    public int QueryHeadsPerKvHead;

    /// <summary>Softmax scale times log2(e), so the kernel exponentiates with exp2.</summary>
    public float ScaleLog2;

    /// <summary>
    /// log2(e) / <see cref="ScaleLog2"/>, that is 1 / scale: the units in which a bias joins the raw S of the tensor-core
    /// kernels' fused softmax. Set on the host: a division inside the key loop cost a dozen instructions a tile.
    /// </summary>
    public float RawBiasUnit;

    /// <summary>The mask (causality, sliding window) that applies inside the tiles.</summary>
    public AttentionMask Mask;

    /// <summary>
    /// Soft-capping and ALiBi applied to visible scores (the portable kernels; the tensor-core kernel
    /// does not read it yet and the engine does not send it such launches).
    /// </summary>
    public ScoreModifier Scores;

    /// <summary>Dropout on P (portable kernels only; the engine never sends it to the tensor-core kernel).</summary>
    public Dropout Dropout;

    /// <summary>The block mask: tiles of hidden blocks are skipped.</summary>
    public BlockSparsity Blocks;

    /// <summary>
    /// 1 when every row of Q, K, V and O starts on a 16-byte boundary (aligned bases and strides, head
    /// dim a multiple of 8 elements): the tensor-core kernel then copies tiles with 16-byte cp.async
    /// and writes O in 32-bit words. The portable kernel ignores it.
    /// </summary>
    public int VectorAligned;

    /// <summary>
    /// Variable-length batches: with <see cref="PackedSequences.Enabled"/> 1 the tensors are packed
    /// along their token axis (batch 1), the batch dimension of the grid counts sequences, and
    /// <see cref="SeqLenQ"/> / <see cref="SeqLenK"/> are the longest sequence's lengths.
    /// </summary>
    public PackedSequences Sequences;

    /// <summary>
    /// The boolean mask packed to bits, for the tensor-core kernel's <c>BitMaskScores</c> mode (the
    /// engine then clears <see cref="ScoreBias.HasMask"/> in <see cref="Scores"/>); a placeholder with
    /// <see cref="MaskBits.Enabled"/> 0 otherwise. The portable kernels read the byte mask instead.
    /// </summary>
    public MaskBits Bits;
}
