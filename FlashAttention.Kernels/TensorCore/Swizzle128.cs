namespace FlashAttention.Kernels.TensorCore;

/// <summary>
/// The shared-memory layout the wgmma kernels keep their Q, K and V tiles in, and the matrix
/// descriptors that tell the tensor cores how to read it.
/// <para>
/// A tile of R rows by D head dims (both multiples of 64, 16-bit elements) is cut into 64 x 64
/// blocks (8 KB, row blocks outer, dim blocks inner). Inside a block each row is 128 bytes, and its
/// eight 16-byte chunks are XOR-permuted by the row's index mod 8: PTX's 128-byte swizzle, the mode
/// in which wgmma reads without bank conflicts. The hardware applies the XOR to address bits 4-6
/// from bits 7-9, so every block must start on a 1024-byte boundary (the kernels align their base).
/// </para>
/// <para>
/// One layout serves both operand forms. Read K-major (Q as A and K as B of S = Q K^T: the
/// reduction runs along a row) the 8-row groups lie <see cref="GroupBytes"/> apart (the stride field);
/// read MN-major (V as B of O = P V: the reduction runs down the rows, the output dims along them)
/// the 8-key groups lie the same distance apart. A k-step of 16 dims moves the start address 32
/// bytes along the row (64 bytes-worth of chunks stay inside one swizzle row); the next 64 dims are
/// the next block, 8 KB on.
/// </para>
/// </summary>
public static class Swizzle128
{
    /// <summary>Elements of one 64 x 64 block.</summary>
    public const int BlockElements = 64 * 64;

    /// <summary>Bytes between consecutive 8-row groups (eight 128-byte rows).</summary>
    public const int GroupBytes = 1024;

    /// <summary>Element offset of (<paramref name="row"/>, <paramref name="col"/>) in a tile <paramref name="dim"/> wide.</summary>
    public static int Offset(int row, int col, int dim) =>
        (((row >> 6) * (dim >> 6) + (col >> 6)) << 12) + ((row & 63) << 6) + ((((col >> 3) & 7) ^ (row & 7)) << 3) + (col & 7);

    /// <summary>
    /// The wgmma shared-memory matrix descriptor of an operand starting at <paramref name="byteAddress"/>
    /// (a shared-window address): start address, leading and stride byte offsets (each in 16-byte
    /// units, 14 bits) and the 128-byte swizzle mode in bits 62-63. The stride offset is
    /// <see cref="GroupBytes"/>, between 8-row (K-major) or 8-key (MN-major) groups; the leading
    /// offset, used only by MN-major operands wider than 64, is the distance between their 64-wide
    /// blocks (<paramref name="leadingBytes"/>: 2 x <see cref="BlockElements"/> for a V tile of 64 keys).
    /// </summary>
    public static ulong Descriptor(int byteAddress, int leadingBytes = GroupBytes) =>
        (ulong)(uint)((byteAddress >> 4) & 0x3FFF) | ((ulong)(uint)((leadingBytes >> 4) & 0x3FFF) << 16) | ((ulong)(GroupBytes >> 4) << 32) | (1UL << 62);

    /// <summary>
    /// Element (<paramref name="mn"/>, <paramref name="k"/>) of a K-major operand as the tensor cores
    /// find it from <paramref name="descriptor"/>: an element offset into the dynamic shared buffer
    /// whose first element sits at byte address <paramref name="sharedBase"/>. For the emulation.
    /// </summary>
    public static int KMajor(ulong descriptor, int sharedBase, int mn, int k)
    {
        int address = Start(descriptor) + (mn >> 3) * StrideBytes(descriptor) + ((mn & 7) << 7) + 2 * k;
        return (Swizzled(address) - sharedBase) >> 1;
    }

    /// <summary>Element (<paramref name="mn"/>, <paramref name="k"/>) of an MN-major operand (transposed B), as <see cref="KMajor"/>.</summary>
    public static int MnMajor(ulong descriptor, int sharedBase, int mn, int k)
    {
        int address = Start(descriptor) + (mn >> 6) * LeadingBytes(descriptor) + (k >> 3) * StrideBytes(descriptor) + ((k & 7) << 7) + 2 * (mn & 63);
        return (Swizzled(address) - sharedBase) >> 1;
    }

    private static int Start(ulong d) => (int)(d & 0x3FFF) << 4;

    private static int LeadingBytes(ulong d) => (int)((d >> 16) & 0x3FFF) << 4;

    private static int StrideBytes(ulong d) => (int)((d >> 32) & 0x3FFF) << 4;

    private static int Swizzled(int address) => address ^ (((address >> 7) & 7) << 4);
}
