using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;

namespace FlashAttention.IO;

/// <summary>
/// Reads and writes NumPy .npy files: little-endian, C order, the element types of <see cref="NpyDType"/>.
/// Reading accepts format versions 1.0, 2.0 and 3.0; writing produces 1.0 (2.0 only if the header
/// would not fit 1.0's 64 KiB). A file with bytes after its array is rejected rather than read in
/// part: such a file usually has a header whose shape does not match what was saved.
/// </summary>
public static class NpyFile
{
    // "\x93NUMPY"; not a u8 literal, which would encode U+0093 as two bytes.
    private static ReadOnlySpan<byte> MagicBytes => [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    // NumPy pads the header so that the data starts on a 64-byte boundary, for memory-mapping.
    private const int Alignment = 64;

    /// <summary>Reads a whole .npy file.</summary>
    /// <exception cref="NpyFormatException">The file is not a .npy array this library reads; the message names the file and the problem.</exception>
    /// <exception cref="IOException">The file cannot be opened or read.</exception>
    public static NpyArray Read(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        RequireLittleEndianHost();
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        long fileLength = stream.Length;

        Span<byte> preamble = stackalloc byte[12];
        int got = stream.ReadAtLeast(preamble[..10], 10, throwOnEndOfStream: false);
        if (got < 6 || !preamble[..6].SequenceEqual(MagicBytes))
            throw new NpyFormatException(path,
                $"not a .npy file: wrong magic (starts with {Hex(preamble[..Math.Min(got, 6)])}; expected 93 4E 55 4D 50 59, i.e. \\x93NUMPY)");
        if (got < 8)
            throw new NpyFormatException(path, $"truncated header: the file has only {fileLength} bytes");
        byte major = preamble[6], minor = preamble[7];
        if (major is not (1 or 2 or 3) || minor != 0)
            throw new NpyFormatException(path, $"unsupported .npy format version {major}.{minor}; expected 1.0, 2.0 or 3.0");
        int preambleLength = major == 1 ? 10 : 12;
        if (got < 10 || (preambleLength == 12 && stream.ReadAtLeast(preamble[10..12], 2, throwOnEndOfStream: false) < 2))
            throw new NpyFormatException(path, $"truncated header: the file has only {fileLength} bytes");
        long headerLength = major == 1
            ? BinaryPrimitives.ReadUInt16LittleEndian(preamble[8..])
            : BinaryPrimitives.ReadUInt32LittleEndian(preamble[8..]);
        if (preambleLength + headerLength > fileLength)
            throw new NpyFormatException(path,
                $"truncated header: it declares {headerLength} bytes but the file has only {fileLength - preambleLength} after the {preambleLength}-byte preamble");

        var headerBytes = new byte[headerLength];
        stream.ReadExactly(headerBytes);
        // Versions 1 and 2 store the header as latin-1, version 3 as UTF-8.
        string headerText = major == 3 ? DecodeUtf8(headerBytes, path) : Encoding.Latin1.GetString(headerBytes);
        var header = NpyHeader.Parse(headerText, path);

        int itemSize = header.DType.ItemSize();
        long count = 1;
        foreach (int dim in header.Shape)
        {
            count *= dim;
            if (count * itemSize > Array.MaxLength)
                throw new NpyFormatException(path, $"array of shape [{string.Join(", ", header.Shape)}] is too large: at most {Array.MaxLength} bytes are supported");
        }
        long expected = count * itemSize;
        long remaining = fileLength - preambleLength - headerLength;
        if (remaining < expected)
            throw new NpyFormatException(path,
                $"truncated data: shape [{string.Join(", ", header.Shape)}] of {header.DType.Name()} needs {expected} bytes, got {remaining}");
        if (remaining > expected)
            throw new NpyFormatException(path,
                $"{remaining - expected} unexpected bytes after the data: shape [{string.Join(", ", header.Shape)}] of {header.DType.Name()} needs {expected} bytes, the file has {remaining}");

        var data = new byte[expected];
        stream.ReadExactly(data);
        return new NpyArray(header.DType, header.Shape, data);
    }

    /// <summary>Writes float32 elements ('&lt;f4').</summary>
    /// <param name="path">The file to create or overwrite.</param>
    /// <param name="data">The elements in C order.</param>
    /// <param name="shape">The dimensions; their product must equal the length of <paramref name="data"/>.</param>
    public static void Write(string path, float[] data, params int[] shape) => Write(path, data, NpyDType.Float32, shape);

    /// <summary>Writes float64 elements ('&lt;f8').</summary>
    /// <inheritdoc cref="Write(string, float[], int[])" path="/param"/>
    public static void Write(string path, double[] data, params int[] shape) => Write(path, data, NpyDType.Float64, shape);

    /// <summary>Writes float16 elements ('&lt;f2'), bit for bit.</summary>
    /// <inheritdoc cref="Write(string, float[], int[])" path="/param"/>
    public static void Write(string path, Half[] data, params int[] shape) => Write(path, data, NpyDType.Float16, shape);

    /// <summary>Writes bfloat16 elements as their uint16 bits ('&lt;u2'), since NumPy has no bfloat16 type.</summary>
    /// <inheritdoc cref="Write(string, float[], int[])" path="/param"/>
    public static void Write(string path, BFloat16[] data, params int[] shape) => Write(path, data, NpyDType.UInt16, shape);

    /// <summary>Writes uint16 elements ('&lt;u2').</summary>
    /// <inheritdoc cref="Write(string, float[], int[])" path="/param"/>
    public static void Write(string path, ushort[] data, params int[] shape) => Write(path, data, NpyDType.UInt16, shape);

    /// <summary>Writes int32 elements ('&lt;i4').</summary>
    /// <inheritdoc cref="Write(string, float[], int[])" path="/param"/>
    public static void Write(string path, int[] data, params int[] shape) => Write(path, data, NpyDType.Int32, shape);

    /// <summary>Writes bool elements ('|b1'), one byte each.</summary>
    /// <inheritdoc cref="Write(string, float[], int[])" path="/param"/>
    public static void Write(string path, bool[] data, params int[] shape) => Write(path, data, NpyDType.Bool, shape);

    private static void Write<T>(string path, T[] data, NpyDType dtype, int[] shape) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(shape);
        RequireLittleEndianHost();
        long count = 1;
        foreach (int dim in shape)
        {
            if (dim < 0)
                throw new ArgumentException($"shape [{string.Join(", ", shape)}] has a negative dimension", nameof(shape));
            count *= dim;
        }
        if (count != data.LongLength)
            throw new ArgumentException(
                $"data has {data.LongLength} elements but shape [{string.Join(", ", shape)}] holds {count}", nameof(data));

        string dict = new NpyHeader(dtype, shape).Format();
        int preambleLength = 10;
        int headerLength = Padded(preambleLength, dict.Length);
        if (headerLength > ushort.MaxValue)
        {
            preambleLength = 12;
            headerLength = Padded(preambleLength, dict.Length);
        }

        var head = new byte[preambleLength + headerLength];
        MagicBytes.CopyTo(head);
        head[6] = (byte)(preambleLength == 10 ? 1 : 2);
        head[7] = 0;
        if (preambleLength == 10)
            BinaryPrimitives.WriteUInt16LittleEndian(head.AsSpan(8), (ushort)headerLength);
        else
            BinaryPrimitives.WriteUInt32LittleEndian(head.AsSpan(8), (uint)headerLength);
        var headerSpan = head.AsSpan(preambleLength);
        headerSpan.Fill((byte)' ');
        Encoding.Latin1.GetBytes(dict, headerSpan);
        headerSpan[^1] = (byte)'\n';

        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16);
        stream.Write(head);
        stream.Write(MemoryMarshal.AsBytes(data.AsSpan()));
    }

    // Header length (dict, spaces, newline) that makes preamble + header a multiple of the alignment.
    private static int Padded(int preambleLength, int dictLength)
    {
        int unpadded = preambleLength + dictLength + 1;
        return dictLength + 1 + (Alignment - unpadded % Alignment) % Alignment;
    }

    private static string DecodeUtf8(byte[] bytes, string path)
    {
        try
        {
            return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            throw new NpyFormatException(path, "bad header: version 3.0 header is not valid UTF-8");
        }
    }

    private static string Hex(ReadOnlySpan<byte> bytes) =>
        bytes.IsEmpty ? "nothing (the file is empty)" : string.Join(" ", bytes.ToArray().Select(b => b.ToString("X2")));

    private static void RequireLittleEndianHost()
    {
        // The element bytes are copied as they are; a big-endian host would need byte swapping.
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException(".npy reading and writing supports little-endian hosts only");
    }
}
