using System.Runtime.InteropServices;
using FlashAttention.Kernels.Launch;
using FlashAttention.Kernels.Portable;

namespace FlashAttention;

public sealed partial class AttentionEngine
{
    // The bias and mask tensors on the device, reused between calls; each holds at least one
    // element so the kernels always receive real views, even with the option off.
    private MemoryBuffer1D<float, Stride1D.Dense>? biasBuffer;
    private MemoryBuffer1D<byte, Stride1D.Dense>? maskBuffer;
    private MemoryBuffer1D<Half, Stride1D.Dense>? halfBiasBuffer; // a host float16 bias, uploaded as it is

    // The full-size dBias when the bias broadcasts (reduced afterwards), and the reduction kernel.
    private MemoryBuffer1D<float, Stride1D.Dense>? biasGradientScratch;
    private Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, BiasReduceShape>? biasGradientReduce;

    /// <summary>
    /// Uploads the call's bias and mask (validated already) and describes them for the kernels.
    /// Copies run on the default stream, after earlier launches and before this one.
    /// <paramref name="gradient"/> is where the dQ pass writes dBias (full size, [batch, heads_q]
    /// strides), or an empty view for none. <paramref name="halfInPlace"/>: the kernel reads a float16 bias as it is
    /// (<see cref="ReadsHalfBias"/>); any other kernel gets it widened to float32 in the engine's buffer.
    /// </summary>
    private ScoreBias BiasOf(AttentionOptions options, TensorLayout q, int seqLenK, ArrayView<float> gradient, bool halfInPlace = false)
    {
        var bias = LogitTensorShape.BiasOf(options);
        var mask = LogitTensorShape.MaskOf(options);
        var halfView = HalfBiasView(options);
        // A device form is read in place; a host form (or none: two elements, which the tensor-core
        // kernel's prefetch reads as one pair) goes through the engine's buffer.
        bool half = halfView.Length != 0 && halfInPlace;
        var biasView = half ? halfView.Cast<float>()
                       : halfView.Length != 0 ? WidenBias(halfView)
                       : options.DeviceBias?.Data ?? Upload(ref biasBuffer, options.Bias?.Data ?? [], options.Bias?.Data.LongLength ?? 2);
        var maskView = options.DeviceMask?.Data
                       ?? Upload(ref maskBuffer, options.Mask is { } m ? MemoryMarshal.Cast<bool, byte>(m.Data) : [], options.Mask?.Data.LongLength ?? 2);
        long plane = (long)q.SeqLen * seqLenK;
        return new ScoreBias
        {
            HasBias = bias is null ? 0 : 1,
            Bias = biasView,
            BiasHeadStride = bias is { Heads: > 1 } ? plane : 0,
            BiasBatchStride = bias is { Batch: > 1 } b ? plane * b.Heads : 0,
            HasMask = mask is null ? 0 : 1,
            BiasHalf = half ? 1 : 0,
            Mask = maskView,
            MaskHeadStride = mask is { Heads: > 1 } ? plane : 0,
            MaskBatchStride = mask is { Batch: > 1 } mb ? plane * mb.Heads : 0,
            HasGradient = gradient.Length != 0 ? 1 : 0,
            BiasGradient = gradient.Length != 0 ? gradient : biasView,
            GradientHeadStride = plane,
            GradientBatchStride = plane * q.Heads,
            SeqLenQ = q.SeqLen,
            SeqLenK = seqLenK,
        };
    }

    /// <summary>
    /// Whether the tensor-core forward reads the call's float16 bias as it is: the bias is all the call puts on the
    /// scores and seqlen_k is even (its bias-only mode, <c>HalfBiasScores</c>), and the view starts on 4 bytes (a pair a load).
    /// </summary>
    private static bool ReadsHalfBias(AttentionOptions options, int seqLenK) =>
        LogitTensorShape.HalfBiasOf(options) && BiasAlone(options) && seqLenK % 2 == 0
        && (options.DeviceHalfBias is not { } d || TensorCoreForwardLauncher.ReadsHalfBias(d.Data, seqLenK));

    /// <summary>The call's float16 bias on the device (a host one uploaded into the engine's buffer), or an empty view.</summary>
    private ArrayView<Half> HalfBiasView(AttentionOptions options) =>
        options.DeviceHalfBias?.Data
        ?? (options.HalfBias is { } h ? Upload(ref halfBiasBuffer, h.Data, h.Data.LongLength) : default);

    /// <summary>A float16 bias widened into the engine's float32 buffer, for the kernels that read float32 (on the default stream).</summary>
    private ArrayView<float> WidenBias(ArrayView<Half> half)
    {
        var target = Upload(ref biasBuffer, ReadOnlySpan<float>.Empty, half.Length);
        Widen(half, target, half.Length, add: false);
        return target;
    }

    private ArrayView<TElem> Upload<TElem>(ref MemoryBuffer1D<TElem, Stride1D.Dense>? buffer, ReadOnlySpan<TElem> data, long length)
        where TElem : unmanaged
    {
        if (buffer is null || buffer.Length < length)
        {
            Accelerator.DefaultStream.Synchronize(); // an earlier launch may still read the old buffer
            buffer?.Dispose();
            buffer = Accelerator.Allocate1D<TElem>(length);
        }
        var view = buffer.View.SubView(0, length);
        if (!data.IsEmpty)
            view.CopyFromCPU(Accelerator.DefaultStream, data);
        return view;
    }

    /// <summary>
    /// Where the dQ pass writes dBias for a call that asks for it into <paramref name="dBias"/>: the
    /// view itself when the bias has the call's full [batch, heads_q] shape, else a full-size scratch
    /// that <see cref="ReduceBiasGradient"/> sums over the broadcast dims afterwards. Either is zeroed
    /// first: key tiles the causal mask or window skips are never visited.
    /// </summary>
    private ArrayView<float> BiasGradientTarget(LogitTensorShape bias, TensorLayout q, ArrayView<float> dBias)
    {
        if (bias.Batch == q.Batch && bias.Heads == q.Heads)
        {
            dBias.MemSetToZero(Accelerator.DefaultStream);
            return dBias;
        }
        long full = (long)q.Batch * q.Heads * bias.SeqLenQ * bias.SeqLenK;
        if (biasGradientScratch is null || biasGradientScratch.Length < full)
        {
            Accelerator.DefaultStream.Synchronize();
            biasGradientScratch?.Dispose();
            biasGradientScratch = Accelerator.Allocate1D<float>(full);
        }
        var view = biasGradientScratch.View.SubView(0, full);
        view.MemSetToZero(Accelerator.DefaultStream);
        return view;
    }

    /// <summary>Sums the full-size dBias over the bias's broadcast dims into <paramref name="dBias"/> (nothing to do when it was written in place).</summary>
    private void ReduceBiasGradient(LogitTensorShape bias, TensorLayout q, ArrayView<float> target, ArrayView<float> dBias)
    {
        if (bias.Batch == q.Batch && bias.Heads == q.Heads)
            return;
        biasGradientReduce ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, BiasReduceShape>(
            BiasGradientReduceKernel.Run);
        long total = dBias.Length;
        int threads = (int)Math.Min(total, 1 << 20);
        var shape = new BiasReduceShape
        {
            Batch = q.Batch,
            Heads = q.Heads,
            SumBatch = bias.Batch == 1 && q.Batch > 1 ? 1 : 0,
            SumHeads = bias.Heads == 1 && q.Heads > 1 ? 1 : 0,
            Plane = (long)bias.SeqLenQ * bias.SeqLenK,
            Total = total,
            Stride = threads,
        };
        biasGradientReduce(Accelerator.DefaultStream, threads, target, dBias, shape);
    }
}
