using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Spectre.Console;

namespace FlashAttention.Bench;

/// <summary>
/// `bench`: FlashAttention's standard sweep (hidden 2048, 16K tokens, seqlen 512..16K, head dim 64
/// and 128, causal and not, forward and forward+backward) on the chosen device, with progress, a
/// table at the end, and JSON/CSV in the schema peers/torch_sdpa.py writes too.
/// </summary>
public static class BenchCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var device = DeviceOption.Create();
        var dtypes = ListOption("--dtype", "Element types: float16, bfloat16, float32.", "float16");
        var seqlens = ListOption("--seqlens", "Sequence lengths.", "512,1024,2048,4096,8192,16384");
        var headdims = ListOption("--headdims", "Head dims (heads = hidden / head dim).", "64,128");
        var causal = new Option<string>("--causal") { Description = "both, yes or no.", DefaultValueFactory = _ => "both" };
        var passes = ListOption("--passes", "fwd, bwd, fwd_bwd.", "fwd,fwd_bwd");
        var repeats = new Option<int>("--repeats") { Description = "Timed runs per configuration (median reported).", DefaultValueFactory = _ => 30 };
        var warmup = new Option<int>("--warmup") { Description = "Untimed runs first.", DefaultValueFactory = _ => 5 };
        var tokens = new Option<int>("--tokens") { Description = "batch * seqlen.", DefaultValueFactory = _ => 16384 };
        var hidden = new Option<int>("--hidden") { Description = "heads * head dim.", DefaultValueFactory = _ => 2048 };
        var inputSets = new Option<int>("--input-sets") { Description = "Random input sets rotated between runs.", DefaultValueFactory = _ => 3 };
        var outJson = new Option<FileInfo?>("--out-json") { Description = "Write every figure as JSON." };
        var outCsv = new Option<FileInfo?>("--out-csv") { Description = "Write every figure as CSV." };
        var kernels = ListOption("--kernels", "Forward kernels, each timed: auto, portable, tc (tensor cores, default tile), tcN[xR][bC][@G] (N warps of R rows, C keys per tile, G groups per SM).", "auto");

        var command = new Command("bench", "Time FlashAttention's standard sweep; TFLOPs = 4*B*N^2*H*d / time (halved when causal, backward 2.5x).")
        {
            device, dtypes, seqlens, headdims, causal, passes, repeats, warmup, tokens, hidden, inputSets, outJson, outCsv, kernels,
        };
        command.SetAction(parse =>
        {
            var plan = new BenchPlan(
                Split(parse.GetValue(dtypes)!), Split(parse.GetValue(seqlens)!).Select(int.Parse).ToArray(),
                Split(parse.GetValue(headdims)!).Select(int.Parse).ToArray(),
                parse.GetValue(causal) switch { "yes" => [true], "no" => [false], _ => [false, true] },
                Split(parse.GetValue(passes)!), parse.GetValue(hidden), parse.GetValue(tokens),
                parse.GetValue(repeats), parse.GetValue(warmup), parse.GetValue(inputSets),
                Split(parse.GetValue(kernels)!).Select(BenchKernel.Parse).ToArray());
            return Run(parse.GetValue(device), plan, parse.GetValue(outJson), parse.GetValue(outCsv));
        });
        return command;
    }

    private static int Run(AcceleratorChoice choice, BenchPlan plan, FileInfo? json, FileInfo? csv)
    {
        using var engine = AttentionEngine.Create(choice, enableProfiling: true);
        AnsiConsole.MarkupLineInterpolated($"[bold]flash bench[/] on {engine.DeviceName} ({engine.AcceleratorType})");
        var runner = new BenchRunner(engine, plan);
        var configs = plan.Configurations().ToList();
        var results = new List<BenchResult>();
        AnsiConsole.Progress().Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask("sweep", maxValue: configs.Count);
                foreach (var (dtype, d, c, n, pass, kernel) in configs)
                {
                    task.Description = $"{kernel.Name} {pass} {dtype} d{d} N{n}{(c ? " causal" : "")}";
                    results.Add(runner.Run(dtype, d, c, n, pass, kernel));
                    // Written after every configuration, so a sweep cut short keeps what it measured.
                    Save(engine, results, json, csv);
                    task.Increment(1);
                }
            });

        var table = new Table().Title($"{engine.DeviceName}").AddColumns("impl", "pass", "dtype", "d", "causal", "B x N", "H", "ms", "TFLOPs", "extra MiB", "status");
        foreach (var r in results)
            table.AddRow(r.Impl, r.Pass, r.Dtype, $"{r.Headdim}", r.Causal ? "yes" : "no", $"{r.Batch} x {r.Seqlen}", $"{r.Heads}",
                F(r.MedianMs, "F3"), F(r.Tflops, "F1"), F(r.PeakMemBytes / 1048576.0, "F0"), r.Status);
        AnsiConsole.Write(table);

        return results.All(r => r.Status == "ok") ? 0 : 1;
    }

    private static void Save(AttentionEngine engine, IReadOnlyList<BenchResult> results, FileInfo? json, FileInfo? csv)
    {
        var meta = new BenchMeta("flash", engine.DeviceName, DriverVersion(engine), engine.AcceleratorType.ToString(), DateTime.UtcNow.ToString("O"), results);
        if (json is not null)
            File.WriteAllText(json.FullName, JsonSerializer.Serialize(meta, JsonOptions));
        if (csv is not null)
            File.WriteAllLines(csv.FullName, Csv(meta));
    }

    /// <summary>The JSON document: who measured what where, and every result.</summary>
    public sealed record BenchMeta(string Tool, string Device, string Driver, string Backend, string Date, IReadOnlyList<BenchResult> Results);

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    private static IEnumerable<string> Csv(BenchMeta meta)
    {
        yield return "impl,pass,dtype,batch,seqlen,heads,headdim,causal,median_ms,tflops,peak_mem_bytes,runs,status,device";
        foreach (var r in meta.Results)
            yield return string.Join(',', r.Impl, r.Pass, r.Dtype, r.Batch, r.Seqlen, r.Heads, r.Headdim, r.Causal ? "true" : "false",
                r.MedianMs.ToString("R", CultureInfo.InvariantCulture), r.Tflops.ToString("R", CultureInfo.InvariantCulture),
                r.PeakMemBytes, r.Runs, r.Status, $"\"{meta.Device}\"");
    }

    private static string DriverVersion(AttentionEngine engine) =>
        engine.Accelerator is ILGPU.Runtime.Cuda.CudaAccelerator cuda ? cuda.DriverVersion.ToString() : "-";

    private static string F(double x, string format) => double.IsFinite(x) ? x.ToString(format, CultureInfo.InvariantCulture) : "-";

    private static Option<string> ListOption(string name, string description, string defaults) =>
        new(name) { Description = $"{description} Comma-separated; default {defaults}.", DefaultValueFactory = _ => defaults };

    private static string[] Split(string list) => list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
