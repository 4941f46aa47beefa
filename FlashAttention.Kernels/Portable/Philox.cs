namespace FlashAttention.Kernels.Portable;

/// <summary>
/// Philox-4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011): a
/// counter-based generator, so any element's random word is a pure function of (key, counter) and
/// the forward, the backward and the host reference draw the same dropout mask without storing it.
/// Integer-only (32-bit words, the multiply-high through one 64-bit product), so CUDA, OpenCL and
/// the CPU accelerator give bit-identical words.
/// </summary>
public static class Philox
{
    private const uint M0 = 0xD2511F53u, M1 = 0xCD9E8D57u;
    private const uint W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;

    /// <summary>The four 32-bit output words of Philox-4x32-10 for counter (c0..c3) and key (k0, k1).</summary>
    public static Words Generate(uint c0, uint c1, uint c2, uint c3, uint k0, uint k1)
    {
        // Ten rounds, the key bumped between rounds (Random123's philox4x32_R with R = 10).
        for (int round = 0; round < 10; round++)
        {
            if (round > 0)
            {
                k0 += W0;
                k1 += W1;
            }
            ulong p0 = (ulong)M0 * c0;
            ulong p1 = (ulong)M1 * c2;
            uint hi0 = (uint)(p0 >> 32), lo0 = (uint)p0;
            uint hi1 = (uint)(p1 >> 32), lo1 = (uint)p1;
            uint n0 = hi1 ^ c1 ^ k0;
            uint n2 = hi0 ^ c3 ^ k1;
            c0 = n0;
            c1 = lo1;
            c2 = n2;
            c3 = lo0;
        }
        return new Words { X0 = c0, X1 = c1, X2 = c2, X3 = c3 };
    }

    /// <summary>One Philox output block.</summary>
    public struct Words
    {
        /// <summary>Output word 0.</summary>
        public uint X0;

        /// <summary>Output word 1.</summary>
        public uint X1;

        /// <summary>Output word 2.</summary>
        public uint X2;

        /// <summary>Output word 3.</summary>
        public uint X3;

        /// <summary>Word <paramref name="index"/> (0..3); an if-chain, not an array, so kernels keep it in registers.</summary>
        public readonly uint this[int index] => index == 0 ? X0 : index == 1 ? X1 : index == 2 ? X2 : X3;
    }
}
