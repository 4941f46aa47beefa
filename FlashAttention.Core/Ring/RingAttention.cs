using System.Runtime.ExceptionServices;

namespace FlashAttention;

/// <summary>
/// Context-parallel ("ring") attention: one long sequence sharded over N accelerators, one
/// <see cref="AttentionEngine"/> each. Device i holds the query, key and value positions that
/// <see cref="RingLayout"/> gives it; over N steps the key/value shards travel around the ring (at
/// step s device i works on the shard that started on device (i - s) mod N) while each device folds
/// its partial results into its own queries' running (O, LSE). Causal attention uses the zigzag
/// layout, so every device has the same number of visible blocks. The backward runs the same ring
/// with the forward's global O and LSE; dK/dV sums travel with their shards and end at home.
/// </summary>
/// <remarks>
/// The devices run their steps at the same time (one task each), and the copy of the next shard
/// overlaps the current step's compute (two key/value slots per device). Copies go through an
/// <see cref="IRingTransport"/>: <see cref="HostStagedTransport"/> by default. Supports causal or
/// full self-attention (seqlen_q = seqlen_k), GQA/MQA, a custom scale and soft-capping; refuses
/// windows, ALiBi, bias/mask/block-mask tensors and dropout. Not thread-safe; the engines must not be
/// used by anything else during a call.
/// </remarks>
public sealed class RingAttention
{
    private readonly AttentionEngine[] engines;

    /// <summary>A ring over <paramref name="engines"/>, in ring order; each on its own accelerator.</summary>
    /// <param name="engines">One engine per device (at least 1); the ring borrows them (disposing them stays the caller's job).</param>
    /// <param name="transport">How shards move between devices; null for <see cref="HostStagedTransport"/>.</param>
    public RingAttention(IReadOnlyList<AttentionEngine> engines, IRingTransport? transport = null)
    {
        this.engines = RingValidator.Engines(engines);
        Transport = transport ?? HostStagedTransport.Instance;
    }

    /// <summary>The engines, in ring order.</summary>
    public IReadOnlyList<AttentionEngine> Engines => engines;

    /// <summary>How shards move between devices.</summary>
    public IRingTransport Transport { get; }

    /// <summary>Devices in the ring.</summary>
    public int Devices => engines.Length;

    /// <summary>How a sequence of <paramref name="seqLen"/> positions is split over this ring.</summary>
    public RingLayout LayoutFor(int seqLen, bool causal) => RingLayout.Create(seqLen, Devices, causal);

    /// <summary>
    /// Attention of host tensors over the ring: shards q, k, v over the devices, runs the N steps and
    /// returns a new contiguous output (and the LSE when <see cref="AttentionOptions.ReturnLse"/>).
    /// </summary>
    /// <param name="q">[batch, seqlen, heads_q, headdim].</param>
    /// <param name="k">[batch, seqlen, heads_kv, headdim]: the same seqlen; heads_q a multiple of heads_kv.</param>
    /// <param name="v">k's shape.</param>
    /// <param name="options">Causal, scale, soft cap, kernel and tiles as for one engine; null for the defaults.</param>
    public AttentionResult<T> Forward<T>(HostTensor<T> q, HostTensor<T> k, HostTensor<T> v, AttentionOptions? options = null)
        where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(q);
        options ??= AttentionOptions.Default;
        var l = q.Layout;
        var output = HostTensor<T>.Zeros(Math.Max(0, l.Batch), Math.Max(0, l.SeqLen), Math.Max(0, l.Heads), Math.Max(0, l.HeadDim));
        float[]? lse = options.ReturnLse ? new float[Math.Max(0, (long)l.Batch * l.Heads * l.SeqLen)] : null;
        Forward(q, k, v, output, lse, options);
        return new AttentionResult<T>(output, lse);
    }

    /// <summary>
    /// Attention of host tensors over the ring into caller-owned <paramref name="output"/> (q's shape, any
    /// layout) and, if not null, <paramref name="lse"/> (float32 [batch, heads_q, seqlen]). On invalid
    /// input nothing is launched or written.
    /// </summary>
    public void Forward<T>(HostTensor<T> q, HostTensor<T> k, HostTensor<T> v, HostTensor<T> output, float[]? lse,
        AttentionOptions? options = null) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(q);
        ArgumentNullException.ThrowIfNull(k);
        ArgumentNullException.ThrowIfNull(v);
        ArgumentNullException.ThrowIfNull(output);
        options ??= AttentionOptions.Default;
        RingValidator.Forward<T>(engines, q.Layout, k.Layout, v.Layout, output.Layout, options);
        AttentionValidator.Fits(q.Layout, q.Data.LongLength, nameof(q));
        AttentionValidator.Fits(k.Layout, k.Data.LongLength, nameof(k));
        AttentionValidator.Fits(v.Layout, v.Data.LongLength, nameof(v));
        AttentionValidator.Fits(output.Layout, output.Data.LongLength, nameof(output));
        if (lse is not null)
            AttentionValidator.Lse(lse.LongLength, q.Layout, nameof(lse));

        using var pass = new RingForwardPass<T>(LayoutFor(q.Layout.SeqLen, options.Causal), engines, Transport, q, k, v, options);
        for (int step = 0; step < Devices; step++)
        {
            int s = step;
            OnEveryDevice(device => pass.Step(device, s));
        }
        pass.Download(output, lse);
    }

    /// <summary>
    /// Gradients over the ring, given the forward's output and LSE (of this ring or of one engine: the
    /// same numbers): returns new contiguous dQ, dK, dV.
    /// </summary>
    /// <param name="dOut">dO, q's shape.</param>
    /// <param name="q">The forward's q.</param>
    /// <param name="k">The forward's k.</param>
    /// <param name="v">The forward's v.</param>
    /// <param name="output">The forward's output O.</param>
    /// <param name="lse">The forward's LSE, float32 [batch, heads_q, seqlen].</param>
    /// <param name="options">The forward's options.</param>
    public AttentionGradients<T> Backward<T>(HostTensor<T> dOut, HostTensor<T> q, HostTensor<T> k, HostTensor<T> v,
        HostTensor<T> output, float[] lse, AttentionOptions? options = null) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(q);
        ArgumentNullException.ThrowIfNull(k);
        static HostTensor<T> Zeros(TensorLayout l) =>
            HostTensor<T>.Zeros(Math.Max(0, l.Batch), Math.Max(0, l.SeqLen), Math.Max(0, l.Heads), Math.Max(0, l.HeadDim));
        var dq = Zeros(q.Layout);
        var dk = Zeros(k.Layout);
        var dv = Zeros(k.Layout);
        Backward(dOut, q, k, v, output, lse, dq, dk, dv, options);
        return new AttentionGradients<T>(dq, dk, dv);
    }

    /// <summary>
    /// Gradients over the ring into caller-owned <paramref name="dq"/>, <paramref name="dk"/>,
    /// <paramref name="dv"/> (any layouts of q's and k's shapes). On invalid input nothing is launched or written.
    /// </summary>
    public void Backward<T>(HostTensor<T> dOut, HostTensor<T> q, HostTensor<T> k, HostTensor<T> v, HostTensor<T> output,
        float[] lse, HostTensor<T> dq, HostTensor<T> dk, HostTensor<T> dv, AttentionOptions? options = null) where T : unmanaged
    {
        foreach (var (t, name) in new[] { (dOut, nameof(dOut)), (q, nameof(q)), (k, nameof(k)), (v, nameof(v)), (output, nameof(output)),
                     (dq, nameof(dq)), (dk, nameof(dk)), (dv, nameof(dv)) })
        {
            ArgumentNullException.ThrowIfNull(t, name);
        }
        ArgumentNullException.ThrowIfNull(lse);
        options ??= AttentionOptions.Default;
        RingValidator.Backward<T>(engines, dOut.Layout, q.Layout, k.Layout, v.Layout, output.Layout, dq.Layout, dk.Layout, dv.Layout,
            lse.LongLength, options);
        foreach (var (t, name) in new[] { (dOut, nameof(dOut)), (q, nameof(q)), (k, nameof(k)), (v, nameof(v)), (output, nameof(output)),
                     (dq, nameof(dq)), (dk, nameof(dk)), (dv, nameof(dv)) })
        {
            AttentionValidator.Fits(t.Layout, t.Data.LongLength, name);
        }

        using var pass = new RingBackwardPass<T>(LayoutFor(q.Layout.SeqLen, options.Causal), engines, Transport, dOut, q, k, v, output, lse, options);
        for (int step = 0; step < Devices; step++)
        {
            int s = step;
            OnEveryDevice(device => pass.Step(device, s));
        }
        OnEveryDevice(pass.SendHome);
        pass.Download(dq, dk, dv);
    }

    /// <summary>Runs <paramref name="work"/> for every device at once and waits; rethrows the first failure as itself.</summary>
    private void OnEveryDevice(Action<int> work)
    {
        var tasks = new Task[Devices];
        for (int i = 0; i < Devices; i++)
        {
            int device = i;
            tasks[i] = Start(() => work(device));
        }
        try
        {
            Task.WaitAll(tasks);
        }
        catch (AggregateException e)
        {
            ExceptionDispatchInfo.Capture(e.Flatten().InnerExceptions[0]).Throw();
            throw;
        }
    }

    /// <summary>
    /// A task on a thread of its own: device steps and copies block on accelerators and on each other,
    /// and the thread pool would add threads for them only slowly.
    /// </summary>
    internal static Task Start(Action work) =>
        Task.Factory.StartNew(work, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
}
