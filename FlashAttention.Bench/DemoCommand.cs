using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Spectre.Console;

namespace FlashAttention.Bench;

/// <summary>
/// <c>demo</c>: times the forward kernel on random inputs already in device memory and checks a
/// sample of its rows against a float64 reference.
/// </summary>
public static class DemoCommand
{
    private const int SampledRows = 16;

    /// <summary>The command-line form, wired to <see cref="Run"/>.</summary>
    public static Command Create()
    {
        var device = DeviceOption.Create();
        var batch = new Option<int?>("--batch") { Description = "Batch size (default: 1 on the CPU, 4 on a GPU).", HelpName = "B" };
        var seqLen = new Option<int?>("--seqlen") { Description = "Sequence length (default: 256 on the CPU, 4096 on a GPU).", HelpName = "N" };
        var heads = new Option<int?>("--heads") { Description = "Heads (default: 4 on the CPU, 16 on a GPU).", HelpName = "H" };
        var headDim = new Option<int?>("--headdim") { Description = "Head dim (default: 64 on the CPU, 128 on a GPU).", HelpName = "D" };
        var dtype = new Option<DemoDType>("--dtype")
        {
            Description = "Element type.",
            HelpName = "float32|float16|bfloat16",
            DefaultValueFactory = _ => DemoDType.Float16,
        };
        var causal = new Option<bool>("--causal") { Description = "Causal mask." };
        var seed = new Option<int>("--seed") { Description = "Seed of the random inputs.", DefaultValueFactory = _ => 1234 };
        var runs = new Option<int?>("--runs") { Description = "Timed runs after one warm-up (default: 3 on the CPU, 10 on a GPU)." };

        var command = new Command("demo", "Time attention on random inputs and check sampled rows against a float64 reference.")
        {
            device, batch, seqLen, heads, headDim, dtype, causal, seed, runs,
        };
        command.SetAction(parse => Run(new DemoArgs
        {
            Device = parse.GetValue(device),
            Batch = parse.GetValue(batch),
            SeqLen = parse.GetValue(seqLen),
            Heads = parse.GetValue(heads),
            HeadDim = parse.GetValue(headDim),
            DType = parse.GetValue(dtype),
            Causal = parse.GetValue(causal),
            Seed = parse.GetValue(seed),
            Runs = parse.GetValue(runs),
        }));
        return command;
    }

    /// <summary>Runs the demo, prints its table, and returns 0 when the sampled error is within the dtype's tolerance, else 1.</summary>
    public static int Run(DemoArgs args)
    {
        ArgumentNullException.ThrowIfNull(args);
        AttentionEngine engine;
        try
        {
            engine = AttentionEngine.Create(args.Device);
        }
        catch (InvalidOperationException e)
        {
            AnsiConsole.MarkupLine($"[red]demo:[/] {Markup.Escape(e.Message)}");
            return 1;
        }
        using (engine)
        {
            try
            {
                return args.DType switch
                {
                    DemoDType.Float32 => Run<float>(engine, args),
                    DemoDType.Float16 => Run<Half>(engine, args),
                    _ => Run<BFloat16>(engine, args),
                };
            }
            catch (ArgumentException e)
            {
                AnsiConsole.MarkupLine($"[red]demo:[/] {Markup.Escape(e.Message)}");
                return 1;
            }
        }
    }

    private static int Run<T>(AttentionEngine engine, DemoArgs args) where T : unmanaged
    {
        // A GPU gets a realistic training shape; the CPU accelerator emulates every thread, so it
        // gets one that finishes in seconds.
        bool cpu = engine.AcceleratorType == AcceleratorType.CPU;
        int b = args.Batch ?? (cpu ? 1 : 4);
        int n = args.SeqLen ?? (cpu ? 256 : 4096);
        int h = args.Heads ?? (cpu ? 4 : 16);
        int d = args.HeadDim ?? (cpu ? 64 : 128);
        int runs = Math.Max(1, args.Runs ?? (cpu ? 3 : 10));
        if (b <= 0 || n <= 0 || h <= 0 || d <= 0)
            throw new ArgumentException($"every size must be at least 1; got batch {b}, seqlen {n}, heads {h}, headdim {d}");

        long count = (long)b * n * h * d;
        var q = HostTensor<T>.Bshd(RandomUniform<T>(args.Seed, 0, count), b, n, h, d);
        var k = HostTensor<T>.Bshd(RandomUniform<T>(args.Seed, 1, count), b, n, h, d);
        var v = HostTensor<T>.Bshd(RandomUniform<T>(args.Seed, 2, count), b, n, h, d);

        // Inputs and outputs live on the device for the whole timing, so no host copy is timed.
        var acc = engine.Accelerator;
        using var dq = acc.Allocate1D(q.Data);
        using var dk = acc.Allocate1D(k.Data);
        using var dv = acc.Allocate1D(v.Data);
        using var dOut = acc.Allocate1D<T>(q.Data.LongLength);
        using var dLse = acc.Allocate1D<float>((long)b * h * n);
        var options = new AttentionOptions { Causal = args.Causal };
        void Forward()
        {
            engine.Forward(DeviceTensor<T>.Bshd(dq.View, b, n, h, d), DeviceTensor<T>.Bshd(dk.View, b, n, h, d),
                DeviceTensor<T>.Bshd(dv.View, b, n, h, d), DeviceTensor<T>.Bshd(dOut.View, b, n, h, d), dLse.View, options);
            acc.Synchronize();
        }

        var warmup = Stopwatch.StartNew();
        Forward(); // compiles the kernel for this shape
        warmup.Stop();
        var times = new double[runs];
        for (int r = 0; r < runs; r++)
        {
            var sw = Stopwatch.StartNew();
            Forward();
            times[r] = sw.Elapsed.TotalMilliseconds;
        }
        Array.Sort(times);
        double median = runs % 2 == 1 ? times[runs / 2] : (times[runs / 2 - 1] + times[runs / 2]) / 2;
        double flops = 4.0 * b * n * (double)n * h * d * (args.Causal ? 0.5 : 1.0);
        double tflops = flops / (median * 1e-3) / 1e12;

        var output = HostTensor<T>.Bshd(dOut.GetAsArray1D(), b, n, h, d);
        var lse = dLse.GetAsArray1D();
        var rows = SampledReference.SpreadRows(n, SampledRows);
        var reference = SampledReference.Forward(q, k, v, 0, rows, options.ScaleFor(d), args.Causal);
        var (outError, lseError) = SampledErrors(reference, output, lse, n);
        double tolerance = typeof(T) == typeof(float) ? 1e-4 : 2e-2;
        bool pass = outError <= tolerance && lseError <= tolerance;

        var table = new Table().Border(TableBorder.Rounded).AddColumn("").AddColumn("");
        table.HideHeaders();
        AddText(table, "device", engine.DeviceName);
        AddText(table, "accelerator", engine.AcceleratorType.ToString());
        AddText(table, "shape [b, n, h, d]", $"[{b}, {n}, {h}, {d}]");
        AddText(table, "dtype", Elements.Name<T>());
        AddText(table, "causal", args.Causal ? "yes" : "no");
        AddText(table, "seed", args.Seed.ToString(CultureInfo.InvariantCulture));
        AddText(table, "warm-up (compile + run)", $"{warmup.Elapsed.TotalMilliseconds:F1} ms");
        AddText(table, $"time (median of {runs})", $"{median:F3} ms");
        AddText(table, "throughput", tflops >= 0.1 ? $"{tflops:F1} TFLOP/s" : $"{tflops * 1e3:F3} GFLOP/s");
        AddText(table, $"max |O - ref| ({rows.Length} rows of batch 0, all heads)", $"{outError:0.00e+0}");
        AddText(table, "max |LSE - ref|", $"{lseError:0.00e+0}");
        AddText(table, "tolerance", $"{tolerance:0e+0}");
        table.AddRow("result", pass ? "[green]PASS[/]" : "[red]FAIL[/]");
        AnsiConsole.Write(table);
        return pass ? 0 : 1;
    }

    // Spectre reads cells as markup; shapes like [1, 512, 4, 64] must not be taken for tags.
    private static void AddText(Table table, string label, string value) =>
        table.AddRow(new Text(label), new Text(value));

    // U(-1, 1). A GPU-sized tensor has ~10^8 elements, so chunks fill in parallel; each chunk has
    // its own generator seeded from (seed, tensor, chunk), so the values do not depend on the cores.
    private static T[] RandomUniform<T>(int seed, int tensor, long count) where T : unmanaged
    {
        const int chunk = 1 << 20;
        var data = new T[count];
        Parallel.For(0L, (count + chunk - 1) / chunk, c =>
        {
            var rng = new Random(unchecked(seed * 1_000_003 + tensor * 65_537 + (int)c)); // not HashCode: it is salted per process
            long end = Math.Min(count, (c + 1) * chunk);
            for (long i = c * chunk; i < end; i++)
                data[i] = Elements.FromSingle<T>(rng.NextSingle() * 2f - 1f);
        });
        return data;
    }

    private static (double Output, double Lse) SampledErrors<T>(SampledReference.Result reference, HostTensor<T> output,
        float[] lse, int seqLen) where T : unmanaged
    {
        int heads = output.Layout.Heads, dim = output.Layout.HeadDim;
        double outError = 0, lseError = 0;
        for (int r = 0; r < reference.Rows.Length; r++)
        for (int h = 0; h < heads; h++)
        {
            int row = reference.Rows[r];
            for (int d = 0; d < dim; d++)
            {
                double expected = reference.Output[(r * heads + h) * dim + d];
                outError = Math.Max(outError, Math.Abs(Elements.ToSingle(output[0, row, h, d]) - expected));
            }
            double expectedLse = reference.Lse[r * heads + h], actualLse = lse[h * seqLen + row];
            // A row that sees no key has -inf in both; subtracting would give NaN.
            if (!(double.IsNegativeInfinity(expectedLse) && double.IsNegativeInfinity(actualLse)))
                lseError = Math.Max(lseError, Math.Abs(actualLse - expectedLse));
        }
        return (outError, lseError);
    }
}
