using FlashAttention.Kernels.Portable;

namespace FlashAttention;

public sealed partial class AttentionEngine
{
    // The ALiBi slopes on the device, reused between calls (at least one element, so the kernels
    // always receive a real view, even with ALiBi off).
    private MemoryBuffer1D<float, Stride1D.Dense>? alibiSlopes;

    /// <summary>The causal mask and sliding window of a call.</summary>
    private static AttentionMask MaskOf(AttentionOptions options, int seqLenQ, int seqLenK) =>
        new(seqLenQ, seqLenK, options.Causal,
            options.Window?.Left ?? AttentionWindow.Unbounded, options.Window?.Right ?? AttentionWindow.Unbounded);

    /// <summary>The dropout of a call (validated already): the same (p, seed, offset) gives the forward and the backward the same Z.</summary>
    private static Dropout DropoutOf(AttentionOptions options, TensorLayout q) =>
        Dropout.Create(options.DropoutP, options.DropoutSeed, options.DropoutOffset, q.Heads);

    /// <summary>
    /// The soft cap and ALiBi slopes of a call (validated already). The slopes are copied on the
    /// default stream, so the copy waits for earlier launches that read the buffer and precedes this one.
    /// </summary>
    /// <param name="options">The call's options.</param>
    /// <param name="q">q's layout.</param>
    /// <param name="seqLenK">k's seqlen.</param>
    /// <param name="biasGradient">Where the backward's dQ pass writes dBias (see <see cref="BiasGradientTarget"/>), or empty.</param>
    /// <param name="halfBiasInPlace">The kernel reads a float16 bias as it is (the tensor-core bias-only mode); otherwise it is widened.</param>
    private ScoreModifier ScoresOf(AttentionOptions options, TensorLayout q, int seqLenK, ArrayView<float> biasGradient = default,
        bool halfBiasInPlace = false)
    {
        var slopes = options.AlibiSlopes;
        int length = Math.Max(1, slopes?.Length ?? 0);
        if (alibiSlopes is null || alibiSlopes.Length < length)
        {
            Accelerator.DefaultStream.Synchronize(); // an earlier launch may still read the old buffer
            alibiSlopes?.Dispose();
            alibiSlopes = Accelerator.Allocate1D<float>(length);
        }
        var view = alibiSlopes.View.SubView(0, length);
        if (slopes is not null)
            view.CopyFromCPU(Accelerator.DefaultStream, slopes);
        // [heads_q] slopes repeat for every batch item; [batch, heads_q] ones advance by heads_q.
        int batchStride = slopes is not null && slopes.Length != q.Heads ? q.Heads : 0;
        return new ScoreModifier(q.SeqLen, seqLenK, options.Softcap, view, slopes is not null, batchStride,
            BiasOf(options, q, seqLenK, biasGradient, halfBiasInPlace));
    }
}
