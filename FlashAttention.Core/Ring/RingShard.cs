namespace FlashAttention;

/// <summary>
/// One device's shard of three [batch, seqlen, heads, headdim] tensors for the device-resident ring
/// calls: q, k and v (or, as the backward's output, dQ, dK and dV). The shard of device i holds the
/// positions of <see cref="RingLayout.ChunksOf"/>(i) in that order, so its seqlen is
/// <see cref="RingLayout.ShardLength"/>(i) (it may be 0: such a shard is not read). Views on device
/// i's accelerator, any layouts.
/// </summary>
/// <param name="Q">Queries (or dQ), [batch, shard length, heads_q, headdim].</param>
/// <param name="K">Keys (or dK), [batch, shard length, heads_kv, headdim].</param>
/// <param name="V">Values (or dV), K's shape.</param>
public readonly record struct RingShard<T>(DeviceTensor<T> Q, DeviceTensor<T> K, DeviceTensor<T> V) where T : unmanaged;
