namespace FlashAttention.Bench;

/// <summary>One measured configuration of FlashAttention's standard sweep (the schema shared with peers/torch_sdpa.py).</summary>
public sealed record BenchResult(
    string Impl, string Pass, string Dtype, int Batch, int Seqlen, int Heads, int Headdim, bool Causal,
    double MedianMs, double Tflops, long PeakMemBytes, int Runs, string Status);

/// <summary>What the sweep covers: FlashAttention's benchmark shapes (hidden 2048, 16K tokens per batch).</summary>
public sealed record BenchPlan(
    IReadOnlyList<string> Dtypes, IReadOnlyList<int> Seqlens, IReadOnlyList<int> Headdims, IReadOnlyList<bool> Causal,
    IReadOnlyList<string> Passes, int Hidden, int Tokens, int Repeats, int Warmup, int InputSets, IReadOnlyList<BenchKernel> Kernels)
{
    /// <summary>Every configuration of the plan, in sweep order (kernels side by side).</summary>
    public IEnumerable<(string Dtype, int Headdim, bool Causal, int Seqlen, string Pass, BenchKernel Kernel)> Configurations() =>
        from dtype in Dtypes
        from d in Headdims
        from causal in Causal
        from n in Seqlens
        from pass in Passes
        from kernel in Kernels
        select (dtype, d, causal, n, pass, kernel);

    /// <summary>FLOPs of one forward: 4 B N^2 H d, halved when causal.</summary>
    public static double ForwardFlops(int batch, int seqlen, int heads, int headdim, bool causal) =>
        4.0 * batch * seqlen * (double)seqlen * heads * headdim / (causal ? 2 : 1);

    /// <summary>FLOPs of a pass, counting the backward as 2.5 forwards (FlashAttention's convention).</summary>
    public static double PassFlops(string pass, int batch, int seqlen, int heads, int headdim, bool causal) =>
        ForwardFlops(batch, seqlen, heads, headdim, causal) * pass switch { "fwd" => 1.0, "bwd" => 2.5, _ => 3.5 };
}
