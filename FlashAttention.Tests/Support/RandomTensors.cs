namespace FlashAttention.Tests.Support;

/// <summary>Fresh random inputs: values uniform in [-1, 1), rounded to the element type.</summary>
public sealed class RandomTensors(int seed)
{
    private readonly Random random = new(seed);

    /// <summary>The seed, for the failure message.</summary>
    public int Seed { get; } = seed;

    /// <summary>A seed that differs per test case yet is reproducible from its name.</summary>
    public static int SeedFor(string caseName)
    {
        unchecked
        {
            int h = 17;
            foreach (char c in caseName)
                h = h * 31 + c;
            return h & 0x7FFF_FFFF;
        }
    }

    /// <summary>Random values for an array of <paramref name="length"/> elements.</summary>
    public T[] Array<T>(long length) where T : unmanaged
    {
        var data = new T[length];
        for (long i = 0; i < length; i++)
            data[i] = Elements.FromSingle<T>((float)(random.NextDouble() * 2 - 1));
        return data;
    }

    /// <summary>A contiguous [batch, seqlen, heads, headdim] tensor.</summary>
    public HostTensor<T> Bshd<T>(int batch, int seqLen, int heads, int headDim) where T : unmanaged =>
        HostTensor<T>.Bshd(Array<T>((long)batch * seqLen * heads * headDim), batch, seqLen, heads, headDim);

    /// <summary>A [batch, heads, seqlen, headdim] tensor in memory, seen as [batch, seqlen, heads, headdim].</summary>
    public HostTensor<T> Bhsd<T>(int batch, int seqLen, int heads, int headDim) where T : unmanaged =>
        HostTensor<T>.Bhsd(Array<T>((long)batch * seqLen * heads * headDim), batch, heads, seqLen, headDim);
}
