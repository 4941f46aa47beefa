namespace FlashAttention;

/// <summary>
/// Checks a variable-length (packed) call before anything is written or launched: the packed tensors
/// (batch 1, the token axis as seqlen), the cumulative offsets, the maximum lengths, and the options
/// varlen refuses. Every message names the argument, the value found and the value expected.
/// </summary>
internal static class VarLenValidator
{
    /// <summary>
    /// Checks a forward call and returns the number of sequences. <paramref name="cuSeqLensQ"/> and
    /// <paramref name="cuSeqLensK"/> are host copies of the offsets.
    /// </summary>
    public static int Forward(TensorLayout q, TensorLayout k, TensorLayout v, TensorLayout output,
        int[]? cuSeqLensQ, int[]? cuSeqLensK, int maxSeqLenQ, int maxSeqLenK, AttentionOptions options)
    {
        Packed(q, nameof(q));
        Packed(k, nameof(k));
        Packed(v, nameof(v));
        Packed(output, nameof(output));
        Options(options);
        int batch = Offsets(cuSeqLensQ, cuSeqLensK);
        // Shapes, heads, head dims and options as for a padded call of `batch` items (ALiBi slopes [batch, heads_q] included).
        AttentionValidator.Forward(q with { Batch = batch }, k with { Batch = batch }, v with { Batch = batch },
            output with { Batch = batch }, options);
        Sequences(cuSeqLensQ!, nameof(cuSeqLensQ), q.SeqLen, "q", maxSeqLenQ, nameof(maxSeqLenQ));
        Sequences(cuSeqLensK!, nameof(cuSeqLensK), k.SeqLen, "k", maxSeqLenK, nameof(maxSeqLenK));
        return batch;
    }

    /// <summary>Checks a backward call (the forward's checks plus dO, dq, dk, dv) and returns the number of sequences.</summary>
    public static int Backward(TensorLayout dOut, TensorLayout q, TensorLayout k, TensorLayout v, TensorLayout output,
        TensorLayout dq, TensorLayout dk, TensorLayout dv, int[]? cuSeqLensQ, int[]? cuSeqLensK, int maxSeqLenQ, int maxSeqLenK,
        AttentionOptions options)
    {
        Packed(dOut, nameof(dOut));
        Packed(dq, nameof(dq));
        Packed(dk, nameof(dk));
        Packed(dv, nameof(dv));
        int batch = Forward(q, k, v, output, cuSeqLensQ, cuSeqLensK, maxSeqLenQ, maxSeqLenK, options);
        AttentionValidator.Backward(dOut with { Batch = batch }, q with { Batch = batch }, k with { Batch = batch },
            v with { Batch = batch }, output with { Batch = batch }, dq with { Batch = batch }, dk with { Batch = batch },
            dv with { Batch = batch }, options);
        return batch;
    }

    /// <summary>The LSE of a varlen call: float32 heads_q * total_q (sequence b's [heads_q, seqlen_q_b] block at heads_q * cu_seqlens_q[b]).</summary>
    public static void Lse(long length, TensorLayout q, string paramName)
    {
        long expected = (long)q.Heads * q.SeqLen;
        if (length != expected)
            throw new ArgumentException(
                $"{paramName}: length is {length}; expected heads_q * total_q = {expected} ({q.Heads} * {q.SeqLen}: " +
                "float32, sequence b's [heads_q, seqlen_q_b] block at heads_q * cu_seqlens_q[b])", paramName);
    }

    /// <summary>The backward needs the forward's LSE: an empty one is reported as missing.</summary>
    public static void RequiredLse(long length, TensorLayout q, string paramName)
    {
        if (length == 0)
            throw new ArgumentException(
                $"{paramName}: missing; expected the forward's LSE, float32 heads_q * total_q = {(long)q.Heads * q.SeqLen} " +
                "(AttentionOptions.ReturnLse)", paramName);
        Lse(length, q, paramName);
    }

    private static void Packed(TensorLayout t, string name)
    {
        if (t.Batch != 1)
            throw new ArgumentException(
                $"{name}: batch is {t.Batch}; expected 1 (varlen tensors are packed [total_tokens, heads, headdim]: batch 1, " +
                "the token axis as seqlen; the sequences come from the cu_seqlens offsets)", name);
    }

    private static void Options(AttentionOptions options)
    {
        if (LogitTensorShape.BiasOf(options) is not null)
            throw new ArgumentException(
                "options: Bias / DeviceBias / HalfBias / DeviceHalfBias is set; expected none: bias tensors are not supported with variable-length batches",
                nameof(options));
        if (options.Mask is not null || options.DeviceMask is not null)
            throw new ArgumentException(
                "options: Mask / DeviceMask is set; expected none: mask tensors are not supported with variable-length batches", nameof(options));
        if (options.BlockMask is not null)
            throw new ArgumentException(
                "options: BlockMask is set; expected none: block masks are not supported with variable-length batches", nameof(options));
        if (options.ReturnBiasGradient)
            throw new ArgumentException(
                "options: ReturnBiasGradient is set; expected false: bias tensors are not supported with variable-length batches", nameof(options));
    }

    private static int Offsets(int[]? cuSeqLensQ, int[]? cuSeqLensK)
    {
        ArgumentNullException.ThrowIfNull(cuSeqLensQ);
        ArgumentNullException.ThrowIfNull(cuSeqLensK);
        if (cuSeqLensQ.Length < 2)
            throw new ArgumentException(
                $"cuSeqLensQ: length is {cuSeqLensQ.Length}; expected batch + 1 >= 2 (int32 cumulative offsets, cu[0] = 0)", nameof(cuSeqLensQ));
        if (cuSeqLensK.Length != cuSeqLensQ.Length)
            throw new ArgumentException(
                $"cuSeqLensK: length is {cuSeqLensK.Length}; expected batch + 1 = {cuSeqLensQ.Length} (cuSeqLensQ's length)", nameof(cuSeqLensK));
        return cuSeqLensQ.Length - 1;
    }

    private static void Sequences(int[] cu, string name, int total, string tensor, int maxSeqLen, string maxName)
    {
        if (cu[0] != 0)
            throw new ArgumentException($"{name}: {name}[0] is {cu[0]}; expected 0", name);
        int longest = 0;
        for (int b = 0; b < cu.Length - 1; b++)
        {
            if (cu[b + 1] < cu[b])
                throw new ArgumentException(
                    $"{name}: {name}[{b + 1}] is {cu[b + 1]}, less than {name}[{b}] = {cu[b]}; expected non-decreasing offsets " +
                    $"(sequence {b} would have a negative length)", name);
            longest = Math.Max(longest, cu[b + 1] - cu[b]);
        }
        int last = cu[^1];
        if (last != total)
            throw new ArgumentException(
                $"{name}: {name}[{cu.Length - 1}] (the last offset) is {last}; expected {tensor}'s total tokens {total} (its seqlen)", name);
        if (maxSeqLen < longest)
            throw new ArgumentException(
                $"{maxName}: is {maxSeqLen}; expected at least the longest sequence's length {longest} (from {name})", maxName);
        if (maxSeqLen > total)
            throw new ArgumentException(
                $"{maxName}: is {maxSeqLen}; expected at most {tensor}'s total tokens {total}", maxName);
    }
}
