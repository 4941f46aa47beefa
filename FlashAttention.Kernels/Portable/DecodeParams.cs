namespace FlashAttention.Kernels.Portable;

/// <summary>Everything one decode launch needs besides its compile-time shape (FlashAttention-2's params struct for flash_attn_with_kvcache).</summary>
public struct DecodeParams<T> where T : unmanaged
{
    /// <summary>Queries [batch, seqlen_q, heads_q, headdim].</summary>
    public StridedTensor<T> Q;

    /// <summary>Output [batch, seqlen_q, heads_q, headdim]; written directly when <see cref="NumSplits"/> is 1.</summary>
    public StridedTensor<T> O;

    /// <summary>The key/value cache (already holding any appended keys).</summary>
    public KvCacheView<T> Cache;

    /// <summary>Log-sum-exp float32 [batch, heads_q, seqlen_q]; written when <see cref="WriteLse"/> is 1 and there is one split.</summary>
    public ArrayView<float> Lse;

    /// <summary>1 to write <see cref="Lse"/>.</summary>
    public int WriteLse;

    /// <summary>
    /// With several splits: float32 [splits, batch * heads_q * seqlen_q, headdim], each split's output
    /// normalised by its own sum (O_i), rows in LSE order; merged by <see cref="PartialMergeKernel"/>.
    /// </summary>
    public ArrayView<float> OPartial;

    /// <summary>With several splits: float32 [splits, batch * heads_q * seqlen_q], each split's LSE_i (-inf when it saw no key).</summary>
    public ArrayView<float> LsePartial;

    /// <summary>Chunks the key axis is split into (grid x = splits * row chunks).</summary>
    public int NumSplits;

    /// <summary>Query sequence length (1 for plain decoding; a few for speculative decoding).</summary>
    public int SeqLenQ;

    /// <summary>Keys appended to the cache by this call: the attention sees cache_seqlens[b] + SeqLenNew keys.</summary>
    public int SeqLenNew;

    /// <summary>Number of query heads.</summary>
    public int HeadsQ;

    /// <summary>The real head dim (the compile-time one may be padded above it).</summary>
    public int HeadDim;

    /// <summary>heads_q / heads_kv.</summary>
    public int QueryHeadsPerKvHead;

    /// <summary>Softmax scale times log2(e).</summary>
    public float ScaleLog2;

    /// <summary>1 for causal attention aligned to the bottom-right corner of the visible keys.</summary>
    public int Causal;

    /// <summary>1 when every cache row starts on a 16-byte boundary and the head dim fills whole 16-byte vectors: K and V then load as 16-byte vectors.</summary>
    public int VectorAligned;

    /// <summary>
    /// Streaming kernel on CUDA: how many steps ahead each lane prefetches its keys and values into L2
    /// (0: none). Needs <see cref="KvCacheView{T}.K"/>'s and V's <see cref="StridedTensor{T}.Address"/>.
    /// </summary>
    public int PrefetchSteps;

    /// <summary>
    /// Streaming kernel with several splits: 1 when the last split of each (item, kv head) to finish merges
    /// the partials itself (<see cref="DecodeSplitMerge"/>) instead of <see cref="PartialMergeKernel"/>.
    /// </summary>
    public int MergeInGroup;

    /// <summary>With <see cref="MergeInGroup"/>: the splits' arrival counters [batch, heads_kv], 0 before the call and after it.</summary>
    public ArrayView<int> Arrivals;
}
