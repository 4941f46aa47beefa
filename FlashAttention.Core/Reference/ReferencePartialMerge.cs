namespace FlashAttention.Reference;

/// <summary>
/// The float64 counterpart of the partial merge kernels (<c>PartialMergeKernel</c>): attention over a
/// key set computed in parts, part i giving per row a normalised output O_i and its LSE_i, is
/// LSE = log Σ exp(LSE_i) and O = Σ exp(LSE_i - LSE) O_i; rows where every part has LSE_i = -inf get O = 0, LSE = -inf.
/// </summary>
public static class ReferencePartialMerge
{
    /// <summary>Merges parts given as [parts][rows * headDim] outputs and [parts][rows] LSEs; returns O [rows * headDim] and LSE [rows].</summary>
    public static (double[] Output, double[] Lse) Merge(IReadOnlyList<double[]> outputs, IReadOnlyList<double[]> lses, int headDim)
    {
        ArgumentNullException.ThrowIfNull(outputs);
        ArgumentNullException.ThrowIfNull(lses);
        if (outputs.Count != lses.Count || outputs.Count == 0)
            throw new ArgumentException($"outputs: {outputs.Count} parts; expected as many as lses ({lses.Count}) and at least 1", nameof(outputs));
        int rows = lses[0].Length;
        var o = new double[(long)rows * headDim];
        var lse = new double[rows];
        for (int r = 0; r < rows; r++)
        {
            double max = double.NegativeInfinity;
            foreach (var part in lses)
                max = Math.Max(max, part[r]);
            if (double.IsNegativeInfinity(max))
            {
                lse[r] = double.NegativeInfinity;
                continue;
            }
            double sum = 0;
            for (int i = 0; i < lses.Count; i++)
                sum += Math.Exp(lses[i][r] - max);
            lse[r] = max + Math.Log(sum);
            for (int i = 0; i < lses.Count; i++)
            {
                double w = Math.Exp(lses[i][r] - lse[r]);
                if (w == 0)
                    continue;
                for (int d = 0; d < headDim; d++)
                    o[(long)r * headDim + d] += w * outputs[i][(long)r * headDim + d];
            }
        }
        return (o, lse);
    }
}
