namespace FlashAttention.Kernels.Portable;

/// <summary>
/// Dropout on the attention probabilities (FlashAttention-2's p, seed, offset): element (b, h, i, j)
/// is kept when its Philox word is at least <see cref="Threshold"/> = ceil(p * 2^32), i.e. when the
/// uniform word / 2^32 is &gt;= p, and a kept P is scaled by 1 / (1 - p). The word comes from
/// <see cref="Philox"/> with key = seed and counter = (j / 4, i, offset + b * heads_q + h) (the last
/// a 64-bit value over two words); word j mod 4 of the block serves key j, so one call covers four
/// neighbouring keys. Integer compare only: CUDA, OpenCL, the CPU and the host reference agree bit
/// for bit. Calls that must draw independent masks should advance the offset by batch * heads_q.
/// The softmax statistics (m, l, LSE) are taken over the undropped P, as FlashAttention-2 does.
/// </summary>
public struct Dropout
{
    /// <summary>1 when dropout is on (p &gt; 0).</summary>
    public int Enabled;

    /// <summary>ceil(p * 2^32): a word below it drops its element.</summary>
    public uint Threshold;

    /// <summary>1 / (1 - p), the factor of a kept element.</summary>
    public float KeepScale;

    /// <summary>The seed's low and high words (Philox key).</summary>
    public uint SeedLo, SeedHi;

    /// <summary>The offset, 64-bit; the (batch, head) stream index is added to it.</summary>
    public ulong Offset;

    /// <summary>Number of query heads (streams per batch item).</summary>
    public int HeadsQ;

    /// <summary>Counter words 2 and 3 of the current (batch, head); set by <see cref="ForHead"/>.</summary>
    public uint StreamLo, StreamHi;

    /// <summary>Dropout with probability <paramref name="p"/> in [0, 1) (0 turns it off).</summary>
    public static Dropout Create(float p, ulong seed, ulong offset, int headsQ) => new()
    {
        Enabled = p > 0f ? 1 : 0,
        Threshold = ThresholdOf(p),
        KeepScale = p > 0f ? 1f / (1f - p) : 1f,
        SeedLo = (uint)seed,
        SeedHi = (uint)(seed >> 32),
        Offset = offset,
        HeadsQ = headsQ,
    };

    /// <summary>ceil(p * 2^32), computed in float64 on the host (p &lt; 1 keeps it below 2^32).</summary>
    public static uint ThresholdOf(float p) => p > 0f ? (uint)Math.Ceiling(p * 4294967296.0) : 0u;

    /// <summary>This dropout with the stream of (<paramref name="batch"/>, <paramref name="head"/>) selected.</summary>
    public readonly Dropout ForHead(int batch, int head)
    {
        var d = this;
        ulong stream = Offset + (ulong)((long)batch * HeadsQ + head);
        d.StreamLo = (uint)stream;
        d.StreamHi = (uint)(stream >> 32);
        return d;
    }

    /// <summary>Whether element (i, j) of the current head is kept (always, with dropout off).</summary>
    public readonly bool Keeps(int i, int j) => Enabled == 0 || Block(i, j)[j & 3] >= Threshold;

    /// <summary>Z_ij / (1 - p): 0 for a dropped element, 1 / (1 - p) for a kept one, 1 with dropout off.</summary>
    public readonly float Factor(int i, int j) => Enabled == 0 ? 1f : Keeps(i, j) ? KeepScale : 0f;

    /// <summary>
    /// The Philox block that holds the words of keys 4 (j / 4) .. 4 (j / 4) + 3 of row i: a kernel that
    /// walks a row's keys in order draws it once per four keys and reads them with <see cref="FactorOf"/>.
    /// </summary>
    public readonly Philox.Words Block(int i, int j) =>
        Philox.Generate((uint)j >> 2, (uint)i, StreamLo, StreamHi, SeedLo, SeedHi);

    /// <summary><see cref="Factor"/> of key j from the <see cref="Block"/> that holds it.</summary>
    public readonly float FactorOf(in Philox.Words block, int j) => block[j & 3] >= Threshold ? KeepScale : 0f;
}
