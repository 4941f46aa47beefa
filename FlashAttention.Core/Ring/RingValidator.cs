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
    /// The device-resident forward: one shard per engine, each of its device's shard length, all of one
    /// batch, heads and head dim; outputs of the query shards' shapes; LSE views (if given) of
    /// batch * heads_q * shard length floats. Returns the sizes the devices share.
    /// </summary>
    public static RingShape Shards<T>(AttentionEngine[] engines, RingLayout layout, IReadOnlyList<RingShard<T>> shards,
        IReadOnlyList<DeviceTensor<T>> outputs, IReadOnlyList<ArrayView<float>>? lse, AttentionOptions options, bool backward) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(shards);
        ArgumentNullException.ThrowIfNull(outputs);
        Count(shards.Count, engines.Length, nameof(shards));
        Count(outputs.Count, engines.Length, nameof(outputs));
        if (lse is not null)
            Count(lse.Count, engines.Length, nameof(lse));
        AttentionValidator.ElementType<T>();
        Options(options);
        RingShape? shape = null;
        for (int i = 0; i < engines.Length; i++)
        {
            int length = layout.ShardLength(i);
            if (length == 0)
                continue; // a device that holds no position: its tensors are not read
            var (q, k, v) = (shards[i].Q, shards[i].K, shards[i].V);
            AttentionValidator.Forward(q.Layout, k.Layout, v.Layout, outputs[i].Layout, options);
            Length(q.Layout, length, i, "Q");
            Length(k.Layout, length, i, "K");
            AttentionValidator.Fits(q.Layout, q.View.Length, nameof(shards));
            AttentionValidator.Fits(k.Layout, k.View.Length, nameof(shards));
            AttentionValidator.Fits(v.Layout, v.View.Length, nameof(shards));
            AttentionValidator.Fits(outputs[i].Layout, outputs[i].View.Length, nameof(outputs));
            var mine = new RingShape(q.Layout.Batch, q.Layout.Heads, k.Layout.Heads, q.Layout.HeadDim);
            shape ??= mine;
            if (mine != shape)
                throw new ArgumentException(
                    $"shards: shards[{i}] has batch {mine.Batch}, heads {mine.HeadsQ}/{mine.HeadsKv}, head dim {mine.HeadDim}; " +
                    $"expected the first shard's batch {shape.Value.Batch}, heads {shape.Value.HeadsQ}/{shape.Value.HeadsKv}, head dim {shape.Value.HeadDim}",
                    nameof(shards));
            if (lse is not null && (backward || lse[i].Length != 0) && lse[i].Length != mine.Rows(length))
                throw new ArgumentException(
                    $"lse: lse[{i}] has length {lse[i].Length}; expected batch * heads_q * shard length = {mine.Rows(length)}" +
                    (backward ? "" : " (or empty)"), nameof(lse));
        }
        if (backward && lse is null)
            throw new ArgumentNullException(nameof(lse), "lse: missing; expected the forward's LSE rows of every shard");
        foreach (var engine in engines)
        {
            engine.CheckPlan<T>(shape!.Value.HeadDim, options, backward: false);
            if (backward)
                engine.CheckPlan<T>(shape.Value.HeadDim, options, backward: true);
        }
        return shape!.Value;
    }

    /// <summary>dO (and the gradient shards) of the device-resident backward: the query and key shards' shapes.</summary>
    public static void Gradients<T>(RingLayout layout, IReadOnlyList<RingShard<T>> shards, IReadOnlyList<DeviceTensor<T>> dOut,
        IReadOnlyList<RingShard<T>> gradients) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(dOut);
        ArgumentNullException.ThrowIfNull(gradients);
        Count(dOut.Count, shards.Count, nameof(dOut));
        Count(gradients.Count, shards.Count, nameof(gradients));
        for (int i = 0; i < shards.Count; i++)
        {
            if (layout.ShardLength(i) == 0)
                continue;
            Same(dOut[i], shards[i].Q, $"dOut[{i}]", nameof(dOut));
            Same(gradients[i].Q, shards[i].Q, $"gradients[{i}].Q", nameof(gradients));
            Same(gradients[i].K, shards[i].K, $"gradients[{i}].K", nameof(gradients));
            Same(gradients[i].V, shards[i].V, $"gradients[{i}].V", nameof(gradients));
        }
    }

    private static void Same<T>(DeviceTensor<T> t, DeviceTensor<T> like, string what, string param) where T : unmanaged
    {
        if (!t.Layout.SameShape(like.Layout))
            throw new ArgumentException($"{param}: {what} has shape {t.Layout.ShapeText}; expected {like.Layout.ShapeText}", param);
        AttentionValidator.Fits(t.Layout, t.View.Length, param);
    }

    private static void Count(int count, int engines, string param)
    {
        if (count != engines)
            throw new ArgumentException($"{param}: count is {count}; expected one per engine ({engines})", param);
    }

    private static void Length(TensorLayout t, int length, int device, string tensor)
    {
        if (t.SeqLen != length)
            throw new ArgumentException(
                $"shards: shards[{device}].{tensor} seqlen is {t.SeqLen}; expected device {device}'s shard length {length} (RingLayout.ShardLength)", "shards");
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
        Refuse(options.HalfBias is not null, "HalfBias", "null (bias tensors are not supported by ring attention)");
        Refuse(options.DeviceHalfBias is not null, "DeviceHalfBias", "null (bias tensors are not supported by ring attention)");
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
