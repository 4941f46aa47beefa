using ILGPU.Runtime;

namespace FlashAttention.Bench;

/// <summary>
/// Times one configuration on device buffers: several fresh random input sets rotated between runs,
/// warm-up first, then CUDA events (ILGPU profiling markers) around each run; the median is reported.
/// </summary>
public sealed class BenchRunner(AttentionEngine engine, BenchPlan plan)
{
    private int uploads;

    /// <summary>Measures one configuration; failures (out of memory, launch errors) come back as a status, not an exception.</summary>
    public BenchResult Run(string dtype, int headdim, bool causal, int seqlen, string pass, BenchKernel kernel) => dtype switch
    {
        "bfloat16" => Run<BFloat16>(dtype, headdim, causal, seqlen, pass, kernel),
        "float32" => Run<float>(dtype, headdim, causal, seqlen, pass, kernel),
        _ => Run<Half>(dtype, headdim, causal, seqlen, pass, kernel),
    };

    private BenchResult Run<T>(string dtype, int headdim, bool causal, int seqlen, string pass, BenchKernel kernel) where T : unmanaged
    {
        string impl = kernel.ImplName(engine, typeof(T));
        int heads = plan.Hidden / headdim;
        int batch = Math.Max(1, plan.Tokens / seqlen);
        var acc = engine.Accelerator;
        long elements = (long)batch * seqlen * heads * headdim;
        long lseCount = (long)batch * heads * seqlen;
        var buffers = new List<MemoryBuffer>();
        try
        {
            MemoryBuffer1D<T, Stride1D.Dense> Upload(long n)
            {
                var host = new T[n];
                // Tens of millions of elements per tensor: fill in parallel chunks, each with its own
                // seeded generator, so inputs are fresh per tensor yet reproducible run to run.
                int seed = 20261124 + 7919 * uploads++;
                const int Chunk = 1 << 20;
                Parallel.For(0, (int)((n + Chunk - 1) / Chunk), c =>
                {
                    var random = new Random(seed + c);
                    for (long i = (long)c * Chunk, end = Math.Min(n, i + Chunk); i < end; i++)
                        host[i] = Elements.FromSingle<T>((float)(random.NextDouble() * 2 - 1));
                });
                var b = acc.Allocate1D(host);
                buffers.Add(b);
                return b;
            }

            var sets = Enumerable.Range(0, plan.InputSets)
                .Select(_ => (Q: Upload(elements), K: Upload(elements), V: Upload(elements), DO: pass == "fwd" ? null : Upload(elements))).ToArray();
            var o = Upload(elements);
            var lse = acc.Allocate1D<float>(lseCount);
            buffers.Add(lse);
            var (dq, dk, dv) = pass == "fwd" ? (o, o, o) : (Upload(elements), Upload(elements), Upload(elements));
            var options = kernel.Options(causal);
            if (kernel is { Bias: true, HalfBias: true })
            {
                var bias = acc.Allocate1D<Half>((long)heads * seqlen * seqlen);
                buffers.Add(bias);
                FillBias(bias, seqlen);
                options = options with { DeviceHalfBias = new DeviceAttentionHalfBias(bias.View, 1, heads, seqlen, seqlen) };
            }
            else if (kernel.Bias)
            {
                var bias = acc.Allocate1D<float>((long)heads * seqlen * seqlen);
                buffers.Add(bias);
                FillBias(bias, seqlen);
                options = options with { DeviceBias = new DeviceAttentionBias(bias.View, 1, heads, seqlen, seqlen) };
            }
            if (kernel.Mask || kernel.CausalMask || kernel.DocumentLength is not null)
            {
                var mask = acc.Allocate1D<byte>((long)seqlen * seqlen);
                buffers.Add(mask);
                FillMask(mask, seqlen, (row, j, random) =>
                    kernel.CausalMask ? j <= row
                    : kernel.DocumentLength is int doc ? j / doc == row / doc
                    : j == row || random.NextDouble() < 0.9);
                options = options with { DeviceMask = new DeviceAttentionMask(mask.View, 1, 1, seqlen, seqlen) };
            }
            if (kernel.BlockPercent is int percent)
                options = options with { BlockMask = RandomBlockMask(seqlen, percent) };
            DeviceTensor<T> T4(MemoryBuffer1D<T, Stride1D.Dense> b) => DeviceTensor<T>.Bshd(b.View, batch, seqlen, heads, headdim);

            void Once(int run)
            {
                var s = sets[run % sets.Length];
                if (pass != "bwd")
                    engine.Forward(T4(s.Q), T4(s.K), T4(s.V), T4(o), lse.View, options);
                if (pass != "fwd")
                    engine.Backward(T4(s.DO!), T4(s.Q), T4(s.K), T4(s.V), T4(o), lse.View, T4(dq), T4(dk), T4(dv), options);
            }

            // A backward alone needs a forward's O and LSE first.
            if (pass == "bwd")
                engine.Forward(T4(sets[0].Q), T4(sets[0].K), T4(sets[0].V), T4(o), lse.View, options);
            for (int i = 0; i < plan.Warmup; i++)
                Once(i);
            acc.Synchronize();

            var stream = acc.DefaultStream;
            var times = new double[plan.Repeats];
            var markers = new (ProfilingMarker Start, ProfilingMarker End)[plan.Repeats];
            for (int i = 0; i < plan.Repeats; i++)
            {
                var start = stream.AddProfilingMarker();
                Once(i);
                markers[i] = (start, stream.AddProfilingMarker());
            }
            stream.Synchronize();
            for (int i = 0; i < plan.Repeats; i++)
            {
                times[i] = markers[i].End.MeasureFrom(markers[i].Start).TotalMilliseconds;
                markers[i].Start.Dispose();
                markers[i].End.Dispose();
            }
            Array.Sort(times);
            double median = times[times.Length / 2];
            double tflops = BenchPlan.PassFlops(pass, batch, seqlen, heads, headdim, causal) / (median * 1e-3) / 1e12;
            // Memory beyond the inputs, as the torch peer counts it: O and LSE, gradients, the backward's scratch.
            long bytesOf = System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
            long extra = elements * bytesOf + lseCount * 4 + (pass == "fwd" ? 0 : 3 * elements * bytesOf + AttentionEngine.BackwardScratchBytes(batch, heads, seqlen));
            return new BenchResult(impl, pass, dtype, batch, seqlen, heads, headdim, causal, median, tflops, extra, plan.Repeats, "ok");
        }
        catch (Exception e) when (e is OutOfMemoryException || e.GetType().Name.Contains("Accelerator") || e is InvalidOperationException || e is ArgumentException)
        {
            return new BenchResult(impl, pass, dtype, batch, seqlen, heads, headdim, causal, double.NaN, double.NaN, 0, 0,
                $"error: {e.GetType().Name}: {e.Message.Split('\n')[0]}");
        }
        finally
        {
            foreach (var b in buffers)
                b.Dispose();
        }
    }

    /// <summary>Random bias values in [-1, 1), filled on the host in parallel and copied once.</summary>
    /// <summary>A block mask of 128 x 128 blocks, each visible with probability <paramref name="percent"/> / 100 (fixed seed).</summary>
    private static AttentionBlockMask RandomBlockMask(int seqlen, int percent)
    {
        int n = (seqlen + AttentionBlockMask.Granularity - 1) / AttentionBlockMask.Granularity;
        var rng = new Random(1);
        var blocks = new bool[n * n];
        for (int e = 0; e < blocks.Length; e++)
            blocks[e] = rng.Next(100) < percent;
        return new AttentionBlockMask(blocks, 1, 1, n, n);
    }

    private static void FillBias<TBias>(MemoryBuffer1D<TBias, Stride1D.Dense> bias, int seqlen) where TBias : unmanaged
    {
        // One [seqlen, seqlen] plane at a time: 32 heads at N 8K hold 2^31 floats, past a .NET array's length.
        long plane = (long)seqlen * seqlen;
        var host = new TBias[plane];
        for (long start = 0; start < bias.Length; start += plane)
        {
            long first = start / seqlen;
            Parallel.For(0, seqlen, row =>
            {
                var random = new Random((int)(7 + first + row));
                for (long i = (long)row * seqlen, end = i + seqlen; i < end; i++)
                    host[i] = Elements.FromSingle<TBias>((float)(random.NextDouble() * 2 - 1));
            });
            bias.View.SubView(start, plane).CopyFromCPU(host);
        }
    }

    /// <summary>A boolean mask [N, N] whose pair (row, j) is kept where <paramref name="keep"/> says (each row with its own seeded generator).</summary>
    private static void FillMask(MemoryBuffer1D<byte, Stride1D.Dense> mask, int seqlen, Func<int, int, Random, bool> keep)
    {
        var host = new byte[mask.Length];
        Parallel.For(0, seqlen, row =>
        {
            var random = new Random(11 + row);
            for (int j = 0; j < seqlen; j++)
                host[(long)row * seqlen + j] = (byte)(keep(row, j, random) ? 1 : 0);
        });
        mask.CopyFromCPU(host);
    }
}
