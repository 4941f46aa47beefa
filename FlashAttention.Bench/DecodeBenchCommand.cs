using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Spectre.Console;

namespace FlashAttention.Bench;

/// <summary>
/// `decode`: times decoding with a KV cache (batch x cache length, 32 query heads, 8 kv heads, d 128,
/// fp16, one query row by default) and reports the effective bandwidth (K and V read once, q and o)
/// against the device-to-device copy bandwidth measured in the same run. JSON/CSV in the schema
/// peers/torch_decode.py writes too.
/// </summary>
public static class DecodeBenchCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var device = DeviceOption.Create();
        var dtype = new Option<string>("--dtype") { Description = "float16, bfloat16 or float32.", DefaultValueFactory = _ => "float16" };
        var batches = ListOption("--batches", "Batch sizes.", "1,2,4,8");
        var cacheLens = ListOption("--cache-lens", "Keys in the cache per item.", "8192,16384,32768,65536");
        var heads = new Option<int>("--heads") { Description = "Query heads.", DefaultValueFactory = _ => 32 };
        var headsKv = new Option<int>("--heads-kv") { Description = "Key/value heads.", DefaultValueFactory = _ => 8 };
        var headdim = new Option<int>("--headdim") { Description = "Head dim.", DefaultValueFactory = _ => 128 };
        var seqlenQ = new Option<int>("--seqlen-q") { Description = "Query rows per item.", DefaultValueFactory = _ => 1 };
        var pageSize = new Option<int>("--page-size") { Description = "Paged cache with pages of this many rows (shuffled block table); 0 = contiguous.", DefaultValueFactory = _ => 0 };
        var cacheLayout = new Option<string>("--cache-layout")
        {
            Description = "Contiguous cache layout: bshd ([batch, seqlen, heads_kv, dim], FlashAttention's) or bhsd ([batch, heads_kv, seqlen, dim], torch SDPA's, which peers/torch_decode.py times).",
            DefaultValueFactory = _ => "bshd",
        };
        cacheLayout.AcceptOnlyFromAmong("bshd", "bhsd");
        var splits = ListOption("--splits", "Key splits to time (0 = automatic).", "0");
        var repeats = new Option<int>("--repeats") { Description = "Timed runs per configuration (median reported).", DefaultValueFactory = _ => 30 };
        var warmup = new Option<int>("--warmup") { Description = "Untimed runs first.", DefaultValueFactory = _ => 5 };
        var inputSets = new Option<int>("--input-sets") { Description = "Random input sets rotated between runs.", DefaultValueFactory = _ => 3 };
        var queueAhead = new Option<int>("--queue-ahead") { Description = "Iterations of a one-thread spin kernel enqueued before the timed calls, so the host's launch overhead stays out of the events (0 = none; 2M is ~5 ms on an H100).", DefaultValueFactory = _ => 2_000_000 };
        var copyMib = new Option<int>("--copy-mib") { Description = "Size of the device-to-device copy that measures the bandwidth, MiB.", DefaultValueFactory = _ => 1024 };
        var paths = new Option<string>("--paths") { Description = "Decode kernels to time, comma-separated: auto, streaming, tiled.", DefaultValueFactory = _ => "auto" };
        var outJson = new Option<FileInfo?>("--out-json") { Description = "Write every figure as JSON." };
        var outCsv = new Option<FileInfo?>("--out-csv") { Description = "Write every figure as CSV." };

        var command = new Command("decode", "Time decoding with a KV cache; GB/s = (K + V + q + o bytes) / time, and % of the device's copy bandwidth.")
        {
            device, dtype, batches, cacheLens, heads, headsKv, headdim, seqlenQ, pageSize, cacheLayout, splits, repeats, warmup, inputSets, queueAhead, copyMib, paths, outJson, outCsv,
        };
        command.SetAction(parse =>
        {
            var plan = new DecodeBenchPlan(parse.GetValue(dtype)!, Ints(parse.GetValue(batches)!), Ints(parse.GetValue(cacheLens)!),
                parse.GetValue(heads), parse.GetValue(headsKv), parse.GetValue(headdim), parse.GetValue(seqlenQ), parse.GetValue(pageSize),
                Ints(parse.GetValue(splits)!), Math.Max(1, parse.GetValue(repeats)), Math.Max(0, parse.GetValue(warmup)), Math.Max(1, parse.GetValue(inputSets)), Math.Max(0, parse.GetValue(queueAhead)),
                parse.GetValue(paths)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                    .Select(x => Enum.Parse<DecodePath>(x, ignoreCase: true)).ToArray(), parse.GetValue(cacheLayout) == "bhsd");
            return Run(parse.GetValue(device), plan, (long)parse.GetValue(copyMib) << 20, parse.GetValue(outJson), parse.GetValue(outCsv));
        });
        return command;
    }

    private static int Run(AcceleratorChoice choice, DecodeBenchPlan plan, long copyBytes, FileInfo? json, FileInfo? csv)
    {
        using var engine = AttentionEngine.Create(choice, enableProfiling: true);
        AnsiConsole.MarkupLineInterpolated($"[bold]flash decode[/] on {engine.DeviceName} ({engine.AcceleratorType}, {engine.Accelerator.NumMultiprocessors} multiprocessors)");
        using var runner = new DecodeBenchRunner(engine, plan);
        double copy = runner.CopyGbps(copyBytes, Math.Max(5, plan.Repeats / 2));
        AnsiConsole.MarkupLineInterpolated($"device-to-device copy of {copyBytes >> 20} MiB: {copy:F0} GB/s (2 x bytes / time)");
        var results = new List<DecodeBenchResult>();
        foreach (var (b, n, s, path) in plan.Configurations())
        {
            results.Add(runner.Run(b, n, s, copy, path));
            var r = results[^1];
            Console.WriteLine($"  {r.Impl} B{b} N{n} splits {r.Splits}: {F(r.MedianMs, "F4")} ms, {F(r.Gbps, "F0")} GB/s, {F(r.PctCopy, "F1")} % of copy ({r.Status})");
            // Written after every configuration, so a sweep cut short keeps what it measured.
            Save(engine, copy, results, json, csv);
        }

        var table = new Table().Title($"decode on {engine.DeviceName}: {plan.HeadsQ}/{plan.HeadsKv} heads, d {plan.Headdim}, {plan.Dtype}, seqlen_q {plan.SeqlenQ}" +
                $"{(plan.PageSize > 0 ? $", pages of {plan.PageSize}" : "")}; copy {copy:F0} GB/s")
            .AddColumns("impl", "batch", "cache", "splits", "ms", "GB/s", "% copy", "status");
        foreach (var r in results)
            table.AddRow(r.Impl, $"{r.Batch}", $"{r.CacheLen}", $"{r.Splits}", F(r.MedianMs, "F4"), F(r.Gbps, "F0"), F(r.PctCopy, "F1"), r.Status);
        AnsiConsole.Write(table);
        return results.All(r => r.Status == "ok") ? 0 : 1;
    }

    /// <summary>The JSON document: who measured what where, the copy bandwidth, and every result.</summary>
    public sealed record DecodeBenchMeta(string Tool, string Device, string Driver, string Backend, string Date, double CopyGbps,
        IReadOnlyList<DecodeBenchResult> Results);

    private static void Save(AttentionEngine engine, double copy, IReadOnlyList<DecodeBenchResult> results, FileInfo? json, FileInfo? csv)
    {
        string driver = engine.Accelerator is ILGPU.Runtime.Cuda.CudaAccelerator cuda ? cuda.DriverVersion.ToString() : "-";
        var meta = new DecodeBenchMeta("flash", engine.DeviceName, driver, engine.AcceleratorType.ToString(), DateTime.UtcNow.ToString("O"), copy, results);
        if (json is not null)
            File.WriteAllText(json.FullName, JsonSerializer.Serialize(meta, JsonOptions));
        if (csv is not null)
            File.WriteAllLines(csv.FullName, Csv(meta));
    }

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    private static IEnumerable<string> Csv(DecodeBenchMeta meta)
    {
        yield return "impl,dtype,batch,cache_len,heads_q,heads_kv,headdim,seqlen_q,page_size,splits,median_ms,min_ms,gbps,pct_copy,bytes,runs,status,copy_gbps,device";
        foreach (var r in meta.Results)
            yield return string.Join(',', r.Impl, r.Dtype, r.Batch, r.CacheLen, r.HeadsQ, r.HeadsKv, r.Headdim, r.SeqlenQ, r.PageSize, r.Splits,
                R(r.MedianMs), R(r.MinMs), R(r.Gbps), R(r.PctCopy), r.Bytes, r.Runs, $"\"{r.Status}\"", R(meta.CopyGbps), $"\"{meta.Device}\"");
    }

    private static string R(double x) => x.ToString("R", CultureInfo.InvariantCulture);

    private static string F(double x, string format) => double.IsFinite(x) ? x.ToString(format, CultureInfo.InvariantCulture) : "-";

    private static Option<string> ListOption(string name, string description, string defaults) =>
        new(name) { Description = $"{description} Comma-separated; default {defaults}.", DefaultValueFactory = _ => defaults };

    private static int[] Ints(string list) =>
        list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(int.Parse).ToArray();
}
