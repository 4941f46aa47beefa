namespace FlashAttention.Tests.Support;

/// <summary>FlashAttention's acceptance rule: kernel error &lt;= 2 x the naive low-precision error + a small slack.</summary>
public static class Accuracy
{
    /// <summary>
    /// Largest |actual - expected| and where it is; equal infinities count as 0, NaN or a lone
    /// infinity as +inf, so an unwritten (NaN-poisoned) element always fails.
    /// </summary>
    public static (double Error, int Index) MaxError(IReadOnlyList<double> expected, Func<int, double> actual)
    {
        (double Error, int Index) worst = (0, 0);
        for (int i = 0; i < expected.Count; i++)
        {
            double a = actual(i), e = expected[i];
            double err = a == e ? 0
                : double.IsNaN(a) || double.IsInfinity(a) || double.IsInfinity(e) ? double.PositiveInfinity
                : Math.Abs(a - e);
            if (err > worst.Error)
                worst = (err, i);
        }
        return worst;
    }

    /// <summary>Absolute slack added to the bound, per element type (covers exp2 approximations and one final rounding).</summary>
    public static double Slack<T>() => typeof(T) == typeof(float) ? 2e-5 : 1e-4;
}
