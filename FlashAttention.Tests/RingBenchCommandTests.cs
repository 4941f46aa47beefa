using System.CommandLine;
using System.Text.Json;
using FlashAttention.Bench;

namespace FlashAttention.Tests;

/// <summary>The `ring` bench command end to end on CPU accelerators with tiny sizes: it runs, times, compares with one engine and writes JSON.</summary>
public class RingBenchCommandTests
{
    [Theory]
    [InlineData(null, "PeerCopyTransport")]   // auto: CPU accelerators copy to each other directly
    [InlineData("host", "HostStagedTransport")]
    public void Writes_json(string? transport, string used)
    {
        var dir = Directory.CreateTempSubdirectory("ring-bench");
        try
        {
            string json = Path.Combine(dir.FullName, "r.json");
            var root = new RootCommand { RingBenchCommand.Create() };
            string[] args = [
                "ring", "--device", "cpu", "--devices", "2", "--seqlens", "9", "--heads", "2", "--heads-kv", "1", "--headdim", "32",
                "--dtype", "float32", "--causal", "--repeats", "1", "--warmup", "0", "--out-json", json,
            ];
            int rc = root.Parse(transport is null ? args : [.. args, "--transport", transport]).Invoke();

            rc.Should().Be(0);
            using var doc = JsonDocument.Parse(File.ReadAllText(json));
            var results = doc.RootElement.GetProperty("results").EnumerateArray().ToList();
            results.Select(r => r.GetProperty("pass").GetString()).Should().Equal("fwd"); // --backward adds "bwd" (left out: its kernels cost seconds to compile here)
            results.Should().OnlyContain(r => r.GetProperty("status").GetString() == "ok" && r.GetProperty("median_ms").GetDouble() > 0
                && r.GetProperty("devices").GetInt32() == 2 && r.GetProperty("copy_bytes").GetInt64() > 0
                && r.GetProperty("transport").GetString() == used);
            results[0].GetProperty("max_diff").GetDouble().Should().BeLessThan(1e-4, "the ring's output is the one engine's");
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
