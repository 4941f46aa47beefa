namespace FlashAttention.Kernels.Portable;

/// <summary>
/// key / page_size without a division in the kernels: n / d = (n * M) >> L for every 0 ≤ n &lt; 2^31, with
/// L = 31 + ceil(log2 d) and M = ceil(2^L / d) (M &lt; 2^33, so n * M fits 64 bits; M = 2^L / d + e, 0 ≤ e &lt; 1, adds
/// n e / 2^L &lt; 2^-ceil(log2 d) ≤ 1 / d to n / d, less than its distance to the next integer). A paged cache's
/// lookup ran <c>key >> shift</c> and <c>key / page_size</c> both and selected one (ILGPU turns the choice into a
/// select), so every key paid a 32-bit integer division (about 30 instructions in SASS) twice, once for K and once for V.
/// </summary>
public static class PageDivision
{
    /// <summary>The multiplier M and shift L for divisor <paramref name="pageSize"/> (at least 1).</summary>
    public static (ulong Magic, int Shift) For(int pageSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(pageSize, 1);
        int shift = 31 + (pageSize == 1 ? 0 : 32 - System.Numerics.BitOperations.LeadingZeroCount((uint)(pageSize - 1)));
        ulong magic = (ulong)((((UInt128)1 << shift) + (UInt128)(uint)pageSize - 1) / (uint)pageSize);
        return (magic, shift);
    }

    /// <summary><paramref name="key"/> (0 ≤ key &lt; 2^31) divided by the page size <see cref="For"/> gave <paramref name="magic"/> and <paramref name="shift"/> for.</summary>
    public static int Column(int key, ulong magic, int shift) => (int)(((ulong)(uint)key * magic) >> shift);
}
