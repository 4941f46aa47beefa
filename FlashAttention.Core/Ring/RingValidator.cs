namespace FlashAttention;

/// <summary>
/// Checks a ring call before any device starts: the engines, the tensors (as a single-device call
/// would, plus one sequence shared by queries and keys), and the options the ring does not shard.
/// Messages name the argument, the dimension or option, the value found and the value expected.
/// </summary>
internal static class RingValidator
{
    public static AttentionEngine[] Engines(IReadOnlyList<AttentionEngine> engines)
    {
        ArgumentNullException.ThrowIfNull(engines);
        if (engines.Count < 1)
            throw new ArgumentException("engines: count is 0; expected at least 1 engine (one per device)", nameof(engines));
        var result = new AttentionEngine[engines.Count];
        for (int i = 0; i < engines.Count; i++)
        {
            result[i] = engines[i] ?? throw new ArgumentException($"engines: engines[{i}] is null; expected an engine", nameof(engines));
            for (int j = 0; j < i; j++)
                if (ReferenceEquals(result[j].Accelerator, result[i].Accelerator))
                    throw new ArgumentException(
                        $"engines: engines[{i}] runs on the accelerator of engines[{j}]; expected one accelerator per device " +
                        "(the devices run at the same time, and an engine's calls are not thread-safe)", nameof(engines));
        }
        return result;
    }

    /// <summary>The ring's own requirements of the forward inputs; the single-device checks come first.</summary>
    public static void Forward<T>(AttentionEngine[] engines, TensorLayout q, TensorLayout k, TensorLayout v, TensorLayout output,
        AttentionOptions options) where T : unmanaged
    {
        AttentionValidator.ElementType<T>();
        AttentionValidator.Forward(q, k, v, output, options);
        if (k.SeqLen != q.SeqLen)
            throw new ArgumentException(
                $"k: seqlen is {k.SeqLen}; expected q's seqlen {q.SeqLen} (ring attention shards one sequence: queries and keys share the positions)",
                nameof(k));
        Options(options);
        foreach (var engine in engines)
            engine.CheckPlan<T>(q.HeadDim, options, backward: false);
    }

    public static void Backward<T>(AttentionEngine[] engines, TensorLayout dOut, TensorLayout q, TensorLayout k, TensorLayout v,
        TensorLayout output, TensorLayout dq, TensorLayout dk, TensorLayout dv, long lseLength, AttentionOptions options) where T : unmanaged
    {
        Forward<T>(engines, q, k, v, output, options);
        AttentionValidator.Backward(dOut, q, k, v, output, dq, dk, dv, options);
        AttentionValidator.RequiredLse(lseLength, q, "lse");
        foreach (var engine in engines)
            engine.CheckPlan<T>(q.HeadDim, options, backward: true);
    }

    /// <summary>
    /// Refuses what is not a function of (query position, key position) alone or needs more than each
    /// block's local positions: the ring's launches see sub-sequences, so a window or ALiBi would be
    /// measured from the wrong diagonal, a bias or mask tensor would need slicing per block, and
    /// dropout's Philox counter is indexed by the local position.
    /// </summary>
    private static void Options(AttentionOptions options)
    {
        Refuse(options.Window is not null, "Window", "null (ring attention supports causal or full attention)");
        Refuse(options.AlibiSlopes is not null, "AlibiSlopes", "null (ALiBi is not supported by ring attention)");
        Refuse(options.Bias is not null, "Bias", "null (bias tensors are not supported by ring attention)");
        Refuse(options.Mask is not null, "Mask", "null (mask tensors are not supported by ring attention)");
        Refuse(options.DeviceBias is not null, "DeviceBias", "null (bias tensors are not supported by ring attention)");
        Refuse(options.DeviceMask is not null, "DeviceMask", "null (mask tensors are not supported by ring attention)");
        Refuse(options.BlockMask is not null, "BlockMask", "null (block masks are not supported by ring attention)");
        Refuse(options.ReturnBiasGradient, "ReturnBiasGradient", "false (there is no bias)");
        Refuse(options.DropoutP != 0f, "DropoutP", "0 (dropout is not supported by ring attention)");
    }

    private static void Refuse(bool set, string option, string expected)
    {
        if (set)
            throw new ArgumentException($"options: {option} is set; expected {expected}", "options");
    }
}
