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
/// <see cref="IRingTransport"/>: by default <see cref="PeerCopyTransport"/> where every neighbour pair is CUDA-CUDA or CPU-CPU,
/// else <see cref="HostStagedTransport"/>. Supports causal or
/// full self-attention (seqlen_q = seqlen_k), GQA/MQA, a custom scale and soft-capping; refuses
/// windows, ALiBi, bias/mask/block-mask tensors and dropout. Not thread-safe; the engines must not be
/// used by anything else during a call.
/// </remarks>
public sealed class RingAttention
{
    private readonly AttentionEngine[] engines;

    /// <summary>A ring over <paramref name="engines"/>, in ring order; each on its own accelerator.</summary>
    /// <param name="engines">One engine per device (at least 1); the ring borrows them (disposing them stays the caller's job).</param>
    /// <param name="transport">
    /// How shards move between devices; null for the default: <see cref="PeerCopyTransport"/> where it connects every neighbour pair
    /// (<see cref="PeerCopyTransport.ConnectsRing"/>), else <see cref="HostStagedTransport"/>.
    /// </param>
    public RingAttention(IReadOnlyList<AttentionEngine> engines, IRingTransport? transport = null)
    {
        this.engines = RingValidator.Engines(engines);
        Transport = transport ?? (PeerCopyTransport.ConnectsRing([.. this.engines.Select(e => e.Accelerator)])
            ? PeerCopyTransport.Instance
            : HostStagedTransport.Instance);
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

        var layout = LayoutFor(q.Layout.SeqLen, options.Causal);
        var shape = new RingShape(q.Layout.Batch, q.Layout.Heads, k.Layout.Heads, q.Layout.HeadDim);
        using var staging = new RingHostStaging(engines, layout);
        int rows = q.Layout.Batch * q.Layout.Heads;
        var shards = Enumerable.Range(0, Devices).Select(i => new RingShard<T>(staging.Upload(i, q), staging.Upload(i, k), staging.Upload(i, v))).ToArray();
        var outputs = Enumerable.Range(0, Devices).Select(i => staging.Shard<T>(i, q.Layout)).ToArray();
        var lseShards = lse is null ? null : Enumerable.Range(0, Devices).Select(i => staging.Rows(i, rows)).ToArray();
        Run(layout, shape, shards, outputs, lseShards, options);
        for (int i = 0; i < Devices; i++)
        {
            staging.Download(i, outputs[i], output);
            if (lse is not null)
                staging.DownloadRows(i, lseShards![i], rows, lse);
        }
    }

    /// <summary>
    /// Attention over the ring on shards already on their devices: device i holds the positions of
    /// <see cref="RingLayout.ChunksOf"/>(i) of <see cref="LayoutFor"/>(<paramref name="seqLen"/>,
    /// options.Causal), in that order, and receives its output and LSE rows for them. Returns when
    /// every device is done. On invalid input nothing is launched or written.
    /// </summary>
    /// <param name="seqLen">The whole sequence's length.</param>
    /// <param name="shards">Per device: q [batch, shard length, heads_q, headdim], k and v [batch, shard length, heads_kv, headdim]; any layouts.</param>
    /// <param name="outputs">Per device: the output shard, q's shape there; written.</param>
    /// <param name="lse">Per device: float32 [batch, heads_q, shard length], or an empty view to skip; null skips all.</param>
    /// <param name="options">As for the host form.</param>
    public void Forward<T>(int seqLen, IReadOnlyList<RingShard<T>> shards, IReadOnlyList<DeviceTensor<T>> outputs,
        IReadOnlyList<ArrayView<float>>? lse, AttentionOptions? options = null) where T : unmanaged
    {
        options ??= AttentionOptions.Default;
        var layout = LayoutFor(seqLen, options.Causal);
        var shape = RingValidator.Shards(engines, layout, shards, outputs, lse, options, backward: false);
        Run(layout, shape, shards, outputs, lse, options);
    }

    private void Run<T>(RingLayout layout, RingShape shape, IReadOnlyList<RingShard<T>> shards, IReadOnlyList<DeviceTensor<T>> outputs,
        IReadOnlyList<ArrayView<float>>? lse, AttentionOptions options) where T : unmanaged
    {
        using var pass = new RingForwardPass<T>(layout, shape, engines, Transport, shards, options);
        for (int step = 0; step < Devices; step++)
        {
            int s = step;
            OnEveryDevice(device => pass.Step(device, s));
        }
        OnEveryDevice(device => pass.Finish(device, outputs[device], lse?[device] ?? default));
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

        var layout = LayoutFor(q.Layout.SeqLen, options.Causal);
        var shape = new RingShape(q.Layout.Batch, q.Layout.Heads, k.Layout.Heads, q.Layout.HeadDim);
        using var staging = new RingHostStaging(engines, layout);
        int rows = q.Layout.Batch * q.Layout.Heads;
        var all = Enumerable.Range(0, Devices).ToArray();
        var shards = all.Select(i => new RingShard<T>(staging.Upload(i, q), staging.Upload(i, k), staging.Upload(i, v))).ToArray();
        var dOutShards = all.Select(i => staging.Upload(i, dOut)).ToArray();
        var outputShards = all.Select(i => staging.Upload(i, output)).ToArray();
        var lseShards = all.Select(i => staging.UploadRows(i, lse, rows)).ToArray();
        var gradients = all.Select(i => new RingShard<T>(staging.Shard<T>(i, q.Layout), staging.Shard<T>(i, k.Layout), staging.Shard<T>(i, k.Layout))).ToArray();
        RunBackward(layout, shape, shards, dOutShards, outputShards, lseShards, gradients, options);
        foreach (int i in all)
        {
            staging.Download(i, gradients[i].Q, dq);
            staging.Download(i, gradients[i].K, dk);
            staging.Download(i, gradients[i].V, dv);
        }
    }

    /// <summary>
    /// Gradients over the ring on shards already on their devices (laid out as for the device-resident
    /// <see cref="Forward{T}(int, IReadOnlyList{RingShard{T}}, IReadOnlyList{DeviceTensor{T}}, IReadOnlyList{ArrayView{float}}?, AttentionOptions?)"/>),
    /// given the forward's output and LSE shards. Writes each device's dQ, dK, dV shards. On invalid input
    /// nothing is launched or written.
    /// </summary>
    /// <param name="seqLen">The whole sequence's length.</param>
    /// <param name="shards">Per device: the forward's q, k, v shards.</param>
    /// <param name="dOut">Per device: dO, the output shard's shape.</param>
    /// <param name="outputs">Per device: the forward's output shard.</param>
    /// <param name="lse">Per device: the forward's LSE rows, float32 [batch, heads_q, shard length].</param>
    /// <param name="gradients">Per device: dQ, dK, dV shards of q's, k's and v's shapes; written.</param>
    /// <param name="options">The forward's options.</param>
    public void Backward<T>(int seqLen, IReadOnlyList<RingShard<T>> shards, IReadOnlyList<DeviceTensor<T>> dOut,
        IReadOnlyList<DeviceTensor<T>> outputs, IReadOnlyList<ArrayView<float>> lse, IReadOnlyList<RingShard<T>> gradients,
        AttentionOptions? options = null) where T : unmanaged
    {
        options ??= AttentionOptions.Default;
        var layout = LayoutFor(seqLen, options.Causal);
        var shape = RingValidator.Shards(engines, layout, shards, outputs, lse, options, backward: true);
        RingValidator.Gradients(layout, shards, dOut, gradients);
        RunBackward(layout, shape, shards, dOut, outputs, lse, gradients, options);
    }

    private void RunBackward<T>(RingLayout layout, RingShape shape, IReadOnlyList<RingShard<T>> shards, IReadOnlyList<DeviceTensor<T>> dOut,
        IReadOnlyList<DeviceTensor<T>> outputs, IReadOnlyList<ArrayView<float>> lse, IReadOnlyList<RingShard<T>> gradients,
        AttentionOptions options) where T : unmanaged
    {
        using var pass = new RingBackwardPass<T>(layout, shape, engines, Transport, shards, dOut, outputs, lse, options);
        for (int step = 0; step < Devices; step++)
        {
            int s = step;
            OnEveryDevice(device => pass.Step(device, s));
        }
        OnEveryDevice(pass.SendHome);
        OnEveryDevice(device => pass.Finish(device, gradients[device]));
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
