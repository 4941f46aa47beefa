namespace FlashAttention.Kernels.Portable;

/// <summary>Everything one backward launch needs besides its compile-time shape.</summary>
public struct BackwardParams<T> where T : unmanaged
{
    /// <summary>Queries [batch, seqlen_q, heads_q, headdim].</summary>
    public StridedTensor<T> Q;

    /// <summary>Keys [batch, seqlen_k, heads_kv, headdim].</summary>
    public StridedTensor<T> K;

    /// <summary>Values [batch, seqlen_k, heads_kv, headdim].</summary>
    public StridedTensor<T> V;

    /// <summary>The forward output, q's shape (read by the preprocessing pass only).</summary>
    public StridedTensor<T> O;

    /// <summary>Gradient of the loss with respect to O, q's shape.</summary>
    public StridedTensor<T> DO;

    /// <summary>Gradient with respect to Q (written).</summary>
    public StridedTensor<T> DQ;

    /// <summary>Gradient with respect to K (written), summed over the query heads that share each key head.</summary>
    public StridedTensor<T> DK;

    /// <summary>Gradient with respect to V (written), likewise summed.</summary>
    public StridedTensor<T> DV;

    /// <summary>The forward's log-sum-exp (natural log), float32 [batch, heads_q, seqlen_q].</summary>
    public ArrayView<float> Lse;

    /// <summary>D = rowsum(dO * O), float32 [batch, heads_q, seqlen_q]: written by the first pass, read by the others.</summary>
    public ArrayView<float> Delta;

    /// <summary>Query sequence length.</summary>
    public int SeqLenQ;

    /// <summary>Key/value sequence length.</summary>
    public int SeqLenK;

    /// <summary>Number of query heads.</summary>
    public int HeadsQ;

    /// <summary>The real head dim.</summary>
    public int HeadDim;

    /// <summary>heads_q / heads_kv.</summary>
    public int QueryHeadsPerKvHead;

    /// <summary>Softmax scale.</summary>
    public float Scale;

    /// <summary>Softmax scale times log2(e).</summary>
    public float ScaleLog2;

    /// <summary>The mask the forward used.</summary>
    public AttentionMask Mask;

    /// <summary>The score modifier the forward used (soft-capping, ALiBi).</summary>
    public ScoreModifier Scores;

    /// <summary>Dropout on P (portable kernels only; the engine never sends it to the tensor-core kernel).</summary>
    public Dropout Dropout;

    /// <summary>The block mask: tiles of hidden blocks are skipped.</summary>
    public BlockSparsity Blocks;

    /// <summary>
    /// Variable-length batches: with <see cref="PackedSequences.Enabled"/> 1 the tensors are packed
    /// along their token axis (batch 1), the batch dimension of the grid counts sequences, and
    /// <see cref="SeqLenQ"/> / <see cref="SeqLenK"/> are the longest sequence's lengths.
    /// </summary>
    public PackedSequences Sequences;

    /// <summary>1 when the rows of Q, K, V and dO start on 16-byte boundaries: the kernels then copy their tiles as 16-byte vectors (<see cref="TileStage"/>).</summary>
    public int VectorAligned;
}
