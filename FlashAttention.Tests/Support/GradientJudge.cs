namespace FlashAttention.Tests.Support;

/// <summary>FlashAttention's rule for a gradient, shared by the backward cases: our error against the
/// float64 reference at most 2 x the naive low-precision implementation's error plus slack.</summary>
public static class GradientJudge
{
    /// <summary>Asserts <paramref name="ours"/> (<paramref name="what"/>: dQ, dK, dV) against <paramref name="reference"/>.</summary>
    public static void Check<T>(string name, int seed, string what, double[] reference, double[] naive, HostTensor<T> ours)
        where T : unmanaged
    {
        var mine = Accuracy.MaxError(reference, i => Elements.ToSingle(ours.Data[i]));
        var bar = Accuracy.MaxError(reference, i => naive[i]);
        double bound = 2 * bar.Error + Accuracy.Slack<T>();
        mine.Error.Should().BeLessThanOrEqualTo(bound,
            $"{what} of {name} (seed {seed}): max error {mine.Error:E3} at flat index {mine.Index} must be <= 2 x naive {bar.Error:E3} + slack");
    }

    /// <summary>A contiguous tensor of <paramref name="like"/>'s shape filled with NaN, so an unwritten element fails.</summary>
    public static HostTensor<T> Poisoned<T>(TensorLayout like) where T : unmanaged
    {
        var t = HostTensor<T>.Zeros(like.Batch, like.SeqLen, like.Heads, like.HeadDim);
        Array.Fill(t.Data, Elements.FromSingle<T>(float.NaN));
        return t;
    }
}
