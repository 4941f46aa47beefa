using System.Runtime.InteropServices;
using System.Text;
using FlashAttention.IO;

namespace FlashAttention.Tests;

public sealed class NpyFileTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("flash-npy-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    public static TheoryData<int[]> Shapes => new()
    {
        new[] { 1 },
        Array.Empty<int>(),
        new[] { 7 },
        new[] { 2, 3 },
        new[] { 2, 0, 3 },
        new[] { 2, 3, 4, 5 },
    };

    // ------------------------------------------------------------ round trips

    [Theory, MemberData(nameof(Shapes))]
    public void Float32RoundTripsBitForBit(int[] shape)
    {
        float[] specials = [0f, -0f, 1f, float.NaN, float.PositiveInfinity, float.NegativeInfinity, float.Epsilon, float.MaxValue];
        var data = Fill(shape, i => specials[i % specials.Length] + (i >= specials.Length ? i : 0));
        RoundTrip(shape, data, NpyDType.Float32, NpyFile.Write, a => a.AsSingle());
    }

    [Theory, MemberData(nameof(Shapes))]
    public void Float64RoundTrips(int[] shape) =>
        RoundTrip(shape, Fill(shape, i => Math.PI * i - 1e300 * (i % 2)), NpyDType.Float64, NpyFile.Write, a => a.AsDouble());

    [Theory, MemberData(nameof(Shapes))]
    public void Float16RoundTripsBitForBit(int[] shape) =>
        RoundTrip(shape, Fill(shape, i => (Half)(i * 0.37f - 3f)), NpyDType.Float16, NpyFile.Write, a => a.AsHalf());

    [Theory, MemberData(nameof(Shapes))]
    public void BFloat16IsWrittenAsUInt16Bits(int[] shape)
    {
        var data = Fill(shape, i => BFloat16.FromBits((ushort)(i * 2654435761u >> 16)));
        RoundTrip(shape, data, NpyDType.UInt16, NpyFile.Write, a => a.AsBFloat16());
        var bits = NpyFile.Read(PathOf("data.npy")).AsUInt16();
        bits.Should().Equal(data.Select(b => b.Bits));
    }

    [Theory, MemberData(nameof(Shapes))]
    public void UInt16RoundTrips(int[] shape) =>
        RoundTrip(shape, Fill(shape, i => (ushort)(65535 - i)), NpyDType.UInt16, NpyFile.Write, a => a.AsUInt16());

    [Theory, MemberData(nameof(Shapes))]
    public void Int32RoundTrips(int[] shape) =>
        RoundTrip(shape, Fill(shape, i => i % 3 == 0 ? int.MinValue + i : -i), NpyDType.Int32, NpyFile.Write, a => a.AsInt32());

    [Theory, MemberData(nameof(Shapes))]
    public void BoolRoundTrips(int[] shape) =>
        RoundTrip(shape, Fill(shape, i => i % 3 != 1), NpyDType.Bool, NpyFile.Write, a => a.AsBool());

    // ------------------------------------------------------------ NumPy's own files

    // Written by numpy 1.24 (np.save); the writer must reproduce them byte for byte.
    public static TheoryData<string, string> NumPyFiles => new()
    {
        { "float32 [2, 3]", "k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDMpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAIC/AAAAvwAAAAAAAAA/AACAPwAAwD8=" },
        { "float16 [4]", "k05VTVBZAQB2AHsnZGVzY3InOiAnPGYyJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDQsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAPADAADj/ew==" },
        { "bool [3]", "k05VTVBZAQB2AHsnZGVzY3InOiAnfGIxJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDMsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoBAAE=" },
        { "int32 [2, 2]", "k05VTVBZAQB2AHsnZGVzY3InOiAnPGk0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDIpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoBAAAA/v///////38AAACA" },
        { "uint16 [3]", "k05VTVBZAQB2AHsnZGVzY3InOiAnPHUyJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDMsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAqAPwDA//8=" },
        { "float64 [2]", "k05VTVBZAQB2AHsnZGVzY3InOiAnPGY4JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAAD4P5x1AIg85Df+" },
        { "float32 scalar", "k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKCksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAGBA" },
    };

    [Theory, MemberData(nameof(NumPyFiles))]
    public void ReadsAndReproducesNumPyFiles(string what, string base64)
    {
        var bytes = Convert.FromBase64String(base64);
        string original = PathOf("numpy.npy"), copy = PathOf("ours.npy");
        File.WriteAllBytes(original, bytes);
        var a = NpyFile.Read(original);

        switch (a.DType)
        {
            case NpyDType.Float32 when a.Rank == 0:
                a.AsSingle().Should().Equal(3.5f);
                NpyFile.Write(copy, a.AsSingle());
                break;
            case NpyDType.Float32:
                a.AsSingle().Should().Equal(-1f, -0.5f, 0f, 0.5f, 1f, 1.5f);
                NpyFile.Write(copy, a.AsSingle(), 2, 3);
                break;
            case NpyDType.Float16:
                a.AsHalf().Select(h => (float)h).Should().Equal(1f, -2f, 0.5f, 65504f);
                NpyFile.Write(copy, a.AsHalf(), 4);
                break;
            case NpyDType.Bool:
                a.AsBool().Should().Equal(true, false, true);
                NpyFile.Write(copy, a.AsBool(), 3);
                break;
            case NpyDType.Int32:
                a.AsInt32().Should().Equal(1, -2, int.MaxValue, int.MinValue);
                NpyFile.Write(copy, a.AsInt32(), 2, 2);
                break;
            case NpyDType.UInt16:
                a.AsBFloat16().Select(b => b.Bits).Should().Equal(0x3F80, 0xC000, 0xFFFF);
                a.AsBFloat16()[1].ToSingle().Should().Be(-2f);
                NpyFile.Write(copy, a.AsUInt16(), 3);
                break;
            case NpyDType.Float64:
                a.AsDouble().Should().Equal(1.5, -1e300);
                NpyFile.Write(copy, a.AsDouble(), 2);
                break;
        }
        File.ReadAllBytes(copy).Should().Equal(bytes, what);
    }

    [Fact]
    public void WritesVersion1HeaderAlignedTo64Bytes()
    {
        string path = PathOf("a.npy");
        NpyFile.Write(path, new float[5], 5);
        var bytes = File.ReadAllBytes(path);
        bytes[..8].Should().Equal(0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0);
        int headerLength = bytes[8] | bytes[9] << 8;
        ((10 + headerLength) % 64).Should().Be(0);
        bytes.Length.Should().Be(10 + headerLength + 5 * 4);
        string header = Encoding.ASCII.GetString(bytes, 10, headerLength);
        header.Should().StartWith("{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }").And.EndWith(" \n");
    }

    [Fact]
    public void ReadsVersion2And3HeadersAndLooseSpelling()
    {
        var data = MemoryMarshal.AsBytes<float>([1f, 2f, 3f, 4f]).ToArray();
        string v2 = WriteRaw("v2.npy", 2, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }\n", data);
        NpyFile.Read(v2).AsSingle().Should().Equal(1f, 2f, 3f, 4f);

        string v3 = WriteRaw("v3.npy", 3, "{\"shape\": (4,), \"fortran_order\": False, \"descr\": \"<f4\"}  \n", data);
        var a = NpyFile.Read(v3);
        a.Shape.Should().Equal(4);
        a.AsSingle().Should().Equal(1f, 2f, 3f, 4f);

        // Python 2 wrote longs with an L suffix; old NumPy padded to 16 bytes only.
        string py2 = WriteRaw("py2.npy", 1, "{'descr':'<f4','fortran_order':False,'shape':(2L, 2L)}\n", data);
        NpyFile.Read(py2).Shape.Should().Equal(2, 2);
    }

    [Fact]
    public void TypedGetterOfTheWrongTypeThrows()
    {
        string path = PathOf("f.npy");
        NpyFile.Write(path, new float[2], 2);
        var a = NpyFile.Read(path);
        a.Invoking(x => x.AsHalf()).Should().Throw<InvalidOperationException>().WithMessage("*float32*float16*");
    }

    [Fact]
    public void WriteRejectsDataThatDoesNotMatchTheShape()
    {
        string path = PathOf("bad.npy");
        FluentActions.Invoking(() => NpyFile.Write(path, new float[5], 2, 3))
            .Should().Throw<ArgumentException>().WithMessage("*5 elements*[2, 3]*6*");
        FluentActions.Invoking(() => NpyFile.Write(path, new int[0], 2, -1, 0))
            .Should().Throw<ArgumentException>().WithMessage("*negative*");
        File.Exists(path).Should().BeFalse();
    }

    // ------------------------------------------------------------ malformed files

    private const string GoodDict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";

    public static TheoryData<string, string> BadFiles => new()
    {
        { "wrong-magic", "wrong magic" },
        { "empty", "wrong magic" },
        { "only-magic", "truncated header" },
        { "version-4", "unsupported .npy format version 4.0" },
        { "big-endian", "unsupported dtype '>f4' (big-endian)" },
        { "complex", "unsupported dtype '<c8'" },
        { "structured", "structured" },
        { "fortran-order", "fortran_order is True" },
        { "truncated-data", "truncated data: shape [2, 3] of float32 needs 24 bytes, got 20" },
        { "trailing-data", "4 unexpected bytes after the data" },
        { "truncated-header", "truncated header" },
        { "garbage-header", "unparseable header" },
        { "unclosed-dict", "unparseable header" },
        { "missing-shape", "no 'shape' key" },
        { "unknown-key", "unexpected key 'order'" },
        { "duplicate-key", "appears twice" },
        { "negative-dim", "unparseable header: expected a non-negative integer" },
        { "text-after-dict", "unexpected text after the header dict" },
    };

    [Theory, MemberData(nameof(BadFiles))]
    public void MalformedFileRaisesOneLineNamingTheFile(string name, string expected)
    {
        var floats6 = new byte[24];
        string path = name switch
        {
            "wrong-magic" => WriteBytes(name, [(byte)'P', (byte)'K', 3, 4, 0, 0, 0, 0, 0, 0, 0, 0]),
            "empty" => WriteBytes(name, []),
            "only-magic" => WriteBytes(name, [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1]),
            "version-4" => WriteRaw(name, 4, GoodDict + "\n", floats6),
            "big-endian" => WriteRaw(name, 1, GoodDict.Replace("<f4", ">f4") + "\n", floats6),
            "complex" => WriteRaw(name, 1, GoodDict.Replace("<f4", "<c8") + "\n", floats6),
            "structured" => WriteRaw(name, 1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (6,), }\n", floats6),
            "fortran-order" => WriteRaw(name, 1, GoodDict.Replace("False", "True") + "\n", floats6),
            "truncated-data" => WriteRaw(name, 1, GoodDict + "\n", floats6[..20]),
            "trailing-data" => WriteRaw(name, 1, GoodDict + "\n", new byte[28]),
            "truncated-header" => WriteBytes(name, [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0, 200, 0, (byte)'{']),
            "garbage-header" => WriteRaw(name, 1, "not a dict at all\n", floats6),
            "unclosed-dict" => WriteRaw(name, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)\n", floats6),
            "missing-shape" => WriteRaw(name, 1, "{'descr': '<f4', 'fortran_order': False}\n", floats6),
            "unknown-key" => WriteRaw(name, 1, "{'descr': '<f4', 'order': False, 'shape': (2, 3)}\n", floats6),
            "duplicate-key" => WriteRaw(name, 1, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}\n", floats6),
            "negative-dim" => WriteRaw(name, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-2, 3)}\n", floats6),
            "text-after-dict" => WriteRaw(name, 1, GoodDict + " junk\n", floats6),
            _ => throw new ArgumentOutOfRangeException(nameof(name)),
        };

        var e = FluentActions.Invoking(() => NpyFile.Read(path)).Should().Throw<NpyFormatException>().Which;
        e.Message.Should().StartWith(path + ": ").And.Contain(expected).And.NotContainAny("\n", "\r");
        e.Path.Should().Be(path);
    }

    [Fact]
    public void MissingFileIsAnIOExceptionNotAFormatError() =>
        FluentActions.Invoking(() => NpyFile.Read(PathOf("absent.npy"))).Should().Throw<FileNotFoundException>();

    // ------------------------------------------------------------ helpers

    private string PathOf(string name) => Path.Combine(dir, name);

    private static T[] Fill<T>(int[] shape, Func<int, T> value)
    {
        int count = shape.Aggregate(1, (a, b) => a * b);
        return Enumerable.Range(0, count).Select(value).ToArray();
    }

    private void RoundTrip<T>(int[] shape, T[] data, NpyDType dtype, Action<string, T[], int[]> write, Func<NpyArray, T[]> read)
        where T : unmanaged
    {
        string path = PathOf("data.npy");
        write(path, data, shape);
        var a = NpyFile.Read(path);
        a.DType.Should().Be(dtype);
        a.Shape.Should().Equal(shape);
        a.Count.Should().Be(data.Length);
        // Bitwise, so NaN payloads and -0 count too.
        MemoryMarshal.AsBytes(read(a).AsSpan()).ToArray().Should().Equal(MemoryMarshal.AsBytes(data.AsSpan()).ToArray());
    }

    private string WriteBytes(string name, byte[] bytes)
    {
        string path = PathOf(name + ".npy");
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private string WriteRaw(string name, byte major, string header, byte[] data)
    {
        var text = (major == 3 ? Encoding.UTF8 : Encoding.Latin1).GetBytes(header);
        var bytes = new List<byte> { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', major, 0 };
        bytes.AddRange(major == 1 ? BitConverter.GetBytes((ushort)text.Length) : BitConverter.GetBytes((uint)text.Length));
        bytes.AddRange(text);
        bytes.AddRange(data);
        return WriteBytes(name.EndsWith(".npy", StringComparison.Ordinal) ? name[..^4] : name, bytes.ToArray());
    }
}
