using System.CommandLine;
using System.Text.Json;
using FlashAttention.Bench;

namespace FlashAttention.Tests;

/// <summary>The `decode` bench command end to end on the CPU accelerator with tiny sizes: it runs, times, and writes JSON and CSV.</summary>
public class DecodeBenchCommandTests
{
    [Theory]
    [InlineData("0", "bshd", "flash-decode")]
    [InlineData("16", "bshd", "flash-decode")]
    [InlineData("0", "bhsd", "flash-decode-bhsd")] // torch SDPA's cache layout, named in the results
    [InlineData("16", "bhsd", "flash-decode")]     // a paged cache has one layout: the option does not apply
    public void Writes_json_and_csv(string pageSize, string cacheLayout, string impl)
    {
        var dir = Directory.CreateTempSubdirectory("decode-bench");
        try
        {
            string json = Path.Combine(dir.FullName, "d.json"), csv = Path.Combine(dir.FullName, "d.csv");
            var root = new RootCommand { DecodeBenchCommand.Create() };
            int rc = root.Parse([
                "decode", "--device", "cpu", "--batches", "1", "--cache-lens", "70", "--heads", "4", "--heads-kv", "2", "--headdim", "64",
                "--page-size", pageSize, "--cache-layout", cacheLayout, "--splits", "0,2", "--repeats", "2", "--warmup", "1", "--input-sets", "1", "--copy-mib", "1", "--queue-ahead", "1000",
                "--out-json", json, "--out-csv", csv,
            ]).Invoke();

            rc.Should().Be(0);
            using var doc = JsonDocument.Parse(File.ReadAllText(json));
            doc.RootElement.GetProperty("copy_gbps").GetDouble().Should().BePositive();
            var results = doc.RootElement.GetProperty("results").EnumerateArray().ToList();
            results.Should().HaveCount(2);
            results.Should().OnlyContain(r => r.GetProperty("status").GetString() == "ok" && r.GetProperty("median_ms").GetDouble() > 0
                && r.GetProperty("page_size").GetInt32() == int.Parse(pageSize) && r.GetProperty("impl").GetString() == impl);
            results[1].GetProperty("splits").GetInt32().Should().Be(2);
            File.ReadAllLines(csv).Should().HaveCount(3);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public void Refuses_an_unknown_cache_layout()
    {
        var root = new RootCommand { DecodeBenchCommand.Create() };
        var parse = root.Parse(["decode", "--device", "cpu", "--cache-layout", "sbhd"]);
        parse.Errors.Should().ContainSingle().Which.Message.Should().Contain("sbhd").And.Contain("bhsd");
    }
}
