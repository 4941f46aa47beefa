using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;
using Spectre.Console;

namespace FlashAttention.Bench;

/// <summary>One measured ring configuration: the ring over <see cref="Devices"/> accelerators against one engine over the whole sequence.</summary>
public sealed record RingBenchResult(
    string Dtype, int Seqlen, int HeadsQ, int HeadsKv, int Headdim, bool Causal, string Pass, int Devices,
    double MedianMs, double OneEngineMs, double Speedup, double Efficiency, double CopyMsPerDevice, long CopyBytes, double MaxDiff, string Status,
    string Transport = "");

/// <summary>
/// `ring`: times <see cref="RingAttention"/> over 1..N accelerators of one kind against one engine on the
/// whole sequence, forward and (with --backward) backward, host tensors in and out on both sides, so
/// the host staging is in both times. Speedup = one engine / ring; efficiency = speedup / devices.
/// Copy time is summed over every copy and divided by the devices: beside the step time it shows how
/// much communication the compute hid. Wall-clock (Stopwatch), median of the repeats.
/// </summary>
public static class RingBenchCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var device = DeviceOption.Create();
        var dtype = new Option<string>("--dtype") { Description = "float16, bfloat16 or float32.", DefaultValueFactory = _ => "float16" };
        var devices = new Option<string>("--devices") { Description = "Ring sizes, comma-separated; default 2,4.", DefaultValueFactory = _ => "2,4" };
        var seqlens = new Option<string>("--seqlens") { Description = "Sequence lengths, comma-separated; default 65536,131072,262144.", DefaultValueFactory = _ => "65536,131072,262144" };
        var heads = new Option<int>("--heads") { Description = "Query heads.", DefaultValueFactory = _ => 16 };
        var headsKv = new Option<int>("--heads-kv") { Description = "Key/value heads.", DefaultValueFactory = _ => 16 };
        var headdim = new Option<int>("--headdim") { Description = "Head dim.", DefaultValueFactory = _ => 128 };
        var causal = new Option<bool>("--causal") { Description = "Causal attention (zigzag layout)." };
        var backward = new Option<bool>("--backward") { Description = "Also time the backward." };
        var shareDevice = new Option<bool>("--share-device")
        {
            Description = "With fewer GPUs than the ring needs, put every ring member on GPU 0 (one context each): checks the ring's CUDA path (threads, contexts, copies) on one GPU; speedups then mean nothing.",
        };
        var transport = new Option<string>("--transport")
        {
            Description = "How shards move: auto (peer where every pair is CUDA-CUDA or CPU-CPU, else host), peer (PeerCopyTransport) or host (HostStagedTransport).",
            DefaultValueFactory = _ => "auto",
        };
        transport.AcceptOnlyFromAmong("auto", "peer", "host");
        var repeats = new Option<int>("--repeats") { Description = "Timed runs per configuration (median reported).", DefaultValueFactory = _ => 3 };
        var warmup = new Option<int>("--warmup") { Description = "Untimed runs first.", DefaultValueFactory = _ => 1 };
        var outJson = new Option<FileInfo?>("--out-json") { Description = "Write every figure as JSON." };
        var command = new Command("ring", "Time ring attention over several accelerators against one engine; efficiency = (one engine / ring) / devices.")
        {
            device, dtype, devices, seqlens, heads, headsKv, headdim, causal, backward, shareDevice, transport, repeats, warmup, outJson,
        };
        command.SetAction(parse =>
        {
            int[] Ints(string s) => [.. s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(int.Parse)];
            var plan = new RingBenchPlan(parse.GetValue(dtype)!, Ints(parse.GetValue(devices)!), Ints(parse.GetValue(seqlens)!), parse.GetValue(heads),
                parse.GetValue(headsKv), parse.GetValue(headdim), parse.GetValue(causal), parse.GetValue(backward),
                Math.Max(1, parse.GetValue(repeats)), Math.Max(0, parse.GetValue(warmup)), parse.GetValue(shareDevice), parse.GetValue(transport)!);
            return plan.Dtype switch
            {
                "float32" => Run<float>(parse.GetValue(device), plan, parse.GetValue(outJson)),
                "bfloat16" => Run<BFloat16>(parse.GetValue(device), plan, parse.GetValue(outJson)),
                _ => Run<Half>(parse.GetValue(device), plan, parse.GetValue(outJson)),
            };
        });
        return command;
    }

    /// <summary>What the command covers.</summary>
    public sealed record RingBenchPlan(string Dtype, IReadOnlyList<int> Devices, IReadOnlyList<int> Seqlens, int HeadsQ, int HeadsKv, int Headdim,
        bool Causal, bool Backward, int Repeats, int Warmup, bool ShareDevice = false, string Transport = "auto");

    private static int Run<T>(AcceleratorChoice choice, RingBenchPlan plan, FileInfo? json) where T : unmanaged
    {
        int most = plan.Devices.Max();
        // Auto is CUDA where a CUDA device is present, else the CPU, whose context then compiles with conservative inlining.
        if (choice is AcceleratorChoice.Auto && !HasCuda())
            choice = AcceleratorChoice.Cpu;
        using var context = Context.Create(b =>
        {
            if (choice is AcceleratorChoice.Cpu)
            {
                b.ForCpuKernels();
                return;
            }
            b.ForKernels();
            if (choice is AcceleratorChoice.Auto or AcceleratorChoice.Cuda) b.Cuda();
            if (choice is AcceleratorChoice.OpenCL) b.OpenCL();
        });
        var accelerators = Accelerators(context, choice, most, plan.ShareDevice);
        var engines = accelerators.Select(AttentionEngine.ForAccelerator).ToArray();
        try
        {
            AnsiConsole.MarkupLineInterpolated($"[bold]flash ring[/] on {engines.Length} x {engines[0].DeviceName} ({engines[0].AcceleratorType})");
            var results = new List<RingBenchResult>();
            IRingTransport chosen = plan.Transport switch
            {
                "peer" => PeerCopyTransport.Instance,
                "host" => HostStagedTransport.Instance,
                _ => new RingAttention(engines).Transport,
            };
            var transport = new TimingTransport(chosen);
            AnsiConsole.MarkupLineInterpolated($"shards move through {chosen.GetType().Name}");
            foreach (int seqlen in plan.Seqlens)
            {
                var random = new Random(seqlen);
                HostTensor<T> Tensor(int heads) => HostTensor<T>.Bshd(
                    [.. Enumerable.Range(0, seqlen * heads * plan.Headdim).Select(_ => Elements.FromSingle<T>((float)(random.NextDouble() * 2 - 1)))],
                    1, seqlen, heads, plan.Headdim);
                var (q, k, v, dOut) = (Tensor(plan.HeadsQ), Tensor(plan.HeadsKv), Tensor(plan.HeadsKv), Tensor(plan.HeadsQ));
                var options = new AttentionOptions { Causal = plan.Causal, ReturnLse = true };
                AttentionResult<T>? reference = null;
                double oneForward = Median(plan, () => reference = engines[0].Forward(q, k, v, options));
                AttentionGradients<T>? oneGrads = null;
                double oneBackward = plan.Backward ? Median(plan, () => oneGrads = engines[0].Backward(dOut, q, k, v, reference!.Output, reference.Lse!, options)) : double.NaN;
                foreach (int n in plan.Devices)
                {
                    if (n > engines.Length)
                    {
                        results.Add(new RingBenchResult(plan.Dtype, seqlen, plan.HeadsQ, plan.HeadsKv, plan.Headdim, plan.Causal, "fwd", n,
                            double.NaN, oneForward, double.NaN, double.NaN, double.NaN, 0, double.NaN, $"skipped: {engines.Length} devices present"));
                        continue;
                    }
                    var ring = new RingAttention(engines[..n], transport);
                    AttentionResult<T>? output = null;
                    results.Add(Measure(plan, seqlen, n, "fwd", oneForward, transport, () => output = ring.Forward(q, k, v, options),
                        () => MaxDiff(reference!.Output.Data, output!.Output.Data)));
                    if (plan.Backward)
                    {
                        AttentionGradients<T>? grads = null;
                        results.Add(Measure(plan, seqlen, n, "bwd", oneBackward, transport,
                            () => grads = ring.Backward(dOut, q, k, v, reference!.Output, reference.Lse!, options),
                            () => Math.Max(MaxDiff(oneGrads!.DQ.Data, grads!.DQ.Data), Math.Max(MaxDiff(oneGrads.DK.Data, grads.DK.Data), MaxDiff(oneGrads.DV.Data, grads.DV.Data)))));
                    }
                    foreach (var r in results.TakeLast(plan.Backward ? 2 : 1))
                        Console.WriteLine($"  N{seqlen} {r.Pass} x{n}: {F(r.MedianMs)} ms (one engine {F(r.OneEngineMs)} ms), efficiency {F(r.Efficiency, "F2")}, copies {F(r.CopyMsPerDevice)} ms/device");
                    Save(engines[0], results, json);
                }
            }
            var table = new Table().Title($"ring on {engines[0].DeviceName}: {plan.HeadsQ}/{plan.HeadsKv} heads, d {plan.Headdim}, {plan.Dtype}{(plan.Causal ? ", causal" : "")}")
                .AddColumns("seqlen", "pass", "devices", "ms", "one engine ms", "speedup", "efficiency", "copy ms/device", "status");
            foreach (var r in results)
                table.AddRow($"{r.Seqlen}", r.Pass, $"{r.Devices}", F(r.MedianMs), F(r.OneEngineMs), F(r.Speedup, "F2"), F(r.Efficiency, "F2"), F(r.CopyMsPerDevice), r.Status);
            AnsiConsole.Write(table);
            return results.All(r => r.Status == "ok" || r.Status.StartsWith("skipped", StringComparison.Ordinal)) ? 0 : 1;
        }
        finally
        {
            foreach (var e in engines)
                e.Dispose();
            foreach (var a in accelerators)
                a.Dispose();
        }
    }

    private static bool HasCuda()
    {
        using var probe = Context.Create(b => b.Cuda());
        return probe.Devices.Any(d => d.AcceleratorType == AcceleratorType.Cuda);
    }

    /// <summary>Up to <paramref name="count"/> accelerators of the chosen kind: CUDA devices one each; the CPU as that many accelerators.</summary>
    private static List<Accelerator> Accelerators(Context context, AcceleratorChoice choice, int count, bool shareDevice)
    {
        var kind = choice switch
        {
            AcceleratorChoice.Cpu => AcceleratorType.CPU,
            AcceleratorChoice.OpenCL => AcceleratorType.OpenCL,
            AcceleratorChoice.Cuda => AcceleratorType.Cuda,
            _ => AcceleratorType.Cuda, // Auto reaches here only where a CUDA device is present
        };
        var devices = context.Devices.Where(d => d.AcceleratorType == kind).ToList();
        if (devices.Count == 0)
            throw new InvalidOperationException($"no {kind} accelerator is present on this machine");
        return kind == AcceleratorType.CPU || shareDevice && devices.Count < count
            ? [.. Enumerable.Range(0, count).Select(_ => devices[0].CreateAccelerator(context))]
            : [.. devices.Take(count).Select(d => d.CreateAccelerator(context))];
    }

    private static RingBenchResult Measure(RingBenchPlan plan, int seqlen, int n, string pass, double oneMs, TimingTransport transport,
        Action run, Func<double> check)
    {
        double copySeconds = 0;
        long copyBytes = 0;
        double ms = Median(plan, run, before: transport.Reset, after: () => (copySeconds, copyBytes) = (transport.Seconds, transport.Bytes));
        double speedup = oneMs / ms;
        return new RingBenchResult(plan.Dtype, seqlen, plan.HeadsQ, plan.HeadsKv, plan.Headdim, plan.Causal, pass, n, ms, oneMs, speedup, speedup / n,
            copySeconds * 1e3 / n, copyBytes, check(), "ok", transport.Inner.GetType().Name);
    }

    private static double Median(RingBenchPlan plan, Action run, Action? before = null, Action? after = null)
    {
        for (int i = 0; i < plan.Warmup; i++)
            run();
        var times = new List<double>();
        for (int i = 0; i < plan.Repeats; i++)
        {
            before?.Invoke();
            long start = Stopwatch.GetTimestamp();
            run();
            times.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            after?.Invoke();
        }
        times.Sort();
        return times[times.Count / 2];
    }

    private static double MaxDiff<T>(T[] a, T[] b) where T : unmanaged
    {
        double worst = 0;
        for (int i = 0; i < a.Length; i++)
            worst = Math.Max(worst, Math.Abs(Elements.ToSingle(a[i]) - Elements.ToSingle(b[i])));
        return worst;
    }

    private static void Save(AttentionEngine engine, IReadOnlyList<RingBenchResult> results, FileInfo? json)
    {
        if (json is null)
            return;
        var meta = new { Tool = "flash ring", Device = engine.DeviceName, Backend = engine.AcceleratorType.ToString(), Date = DateTime.UtcNow.ToString("O"), Results = results };
        File.WriteAllText(json.FullName, JsonSerializer.Serialize(meta, new JsonSerializerOptions
        {
            WriteIndented = true,
            PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
            NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
        }));
    }

    private static string F(double x, string format = "F1") => double.IsFinite(x) ? x.ToString(format, CultureInfo.InvariantCulture) : "-";
}
