using System.CommandLine;
using System.Text.Json;
using FlashAttention.Bench;

namespace FlashAttention.Tests;

/// <summary>The `decode` bench command end to end on the CPU accelerator with tiny sizes: it runs, times, and writes JSON and CSV.</summary>
public class DecodeBenchCommandTests
{
    [Theory]
    [InlineData("0")]
    [InlineData("16")]
    public void Writes_json_and_csv(string pageSize)
    {
        var dir = Directory.CreateTempSubdirectory("decode-bench");
        try
        {
            string json = Path.Combine(dir.FullName, "d.json"), csv = Path.Combine(dir.FullName, "d.csv");
            var root = new RootCommand { DecodeBenchCommand.Create() };
            int rc = root.Parse([
                "decode", "--device", "cpu", "--batches", "1", "--cache-lens", "70", "--heads", "4", "--heads-kv", "2", "--headdim", "64",
                "--page-size", pageSize, "--splits", "0,2", "--repeats", "2", "--warmup", "1", "--input-sets", "1", "--copy-mib", "1", "--queue-ahead", "1000",
                "--out-json", json, "--out-csv", csv,
            ]).Invoke();

            rc.Should().Be(0);
            using var doc = JsonDocument.Parse(File.ReadAllText(json));
            doc.RootElement.GetProperty("copy_gbps").GetDouble().Should().BePositive();
            var results = doc.RootElement.GetProperty("results").EnumerateArray().ToList();
            results.Should().HaveCount(2);
            results.Should().OnlyContain(r => r.GetProperty("status").GetString() == "ok" && r.GetProperty("median_ms").GetDouble() > 0
                && r.GetProperty("page_size").GetInt32() == int.Parse(pageSize));
            results[1].GetProperty("splits").GetInt32().Should().Be(2);
            File.ReadAllLines(csv).Should().HaveCount(3);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
