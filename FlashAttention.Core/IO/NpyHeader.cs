using System.Text;

namespace FlashAttention.IO;

/// <summary>The header dict of a .npy file: {'descr': ..., 'fortran_order': ..., 'shape': (...), }.</summary>
internal sealed class NpyHeader(NpyDType dtype, int[] shape)
{
    public NpyDType DType { get; } = dtype;

    public int[] Shape { get; } = shape;

    /// <summary>Parses the dict text; every problem is an <see cref="NpyFormatException"/> naming <paramref name="path"/>.</summary>
    public static NpyHeader Parse(string text, string path)
    {
        var reader = new PyLiteralReader(text, path);
        string? descr = null;
        bool? fortran = null;
        List<long>? dims = null;
        reader.Expect('{');
        while (!reader.TryConsume('}'))
        {
            string key = reader.ReadString();
            reader.Expect(':');
            switch (key)
            {
                case "descr" when descr is null:
                    if (reader.Peek() == '[')
                        throw new NpyFormatException(path, "unsupported dtype: structured arrays (a list descr) are not supported");
                    descr = reader.ReadString();
                    break;
                case "fortran_order" when fortran is null:
                    fortran = reader.ReadBool();
                    break;
                case "shape" when dims is null:
                    dims = reader.ReadIntTuple();
                    break;
                case "descr" or "fortran_order" or "shape":
                    throw reader.Error($"key '{key}' appears twice");
                default:
                    throw reader.Error($"unexpected key '{key}'");
            }
            if (!reader.TryConsume(','))
            {
                reader.Expect('}');
                break;
            }
        }
        reader.ExpectEnd();

        if (descr is null || fortran is null || dims is null)
        {
            string missing = descr is null ? "descr" : fortran is null ? "fortran_order" : "shape";
            throw new NpyFormatException(path, $"bad header: it has no '{missing}' key");
        }
        var dtype = NpyDTypeExtensions.FromDescr(descr)
            ?? throw new NpyFormatException(path, $"unsupported dtype '{Printable(descr)}'{Hint(descr)}; " +
                                                  "supported: '<f4', '<f2', '<u2', '<i4', '|b1', '<f8'");
        if (fortran.Value)
            throw new NpyFormatException(path,
                "fortran_order is True (column-major data); only C order is supported: save a C-contiguous array, e.g. np.ascontiguousarray(a)");
        var shape = new int[dims.Count];
        for (int i = 0; i < shape.Length; i++)
        {
            if (dims[i] > int.MaxValue)
                throw new NpyFormatException(path, $"bad header: dimension {i} is {dims[i]}; at most {int.MaxValue} is supported");
            shape[i] = (int)dims[i];
        }
        return new NpyHeader(dtype, shape);
    }

    /// <summary>The dict as NumPy writes it, without padding or the final newline.</summary>
    public string Format()
    {
        var sb = new StringBuilder();
        sb.Append("{'descr': '").Append(DType.Descr()).Append("', 'fortran_order': False, 'shape': (");
        sb.AppendJoin(", ", Shape);
        // A one-element tuple needs its trailing comma to stay a tuple in Python.
        sb.Append(Shape.Length == 1 ? ",), }" : "), }");
        return sb.ToString();
    }

    private static string Hint(string descr) =>
        descr.Length > 0 && descr[0] == '>' ? " (big-endian)" : "";

    private static string Printable(string s) =>
        string.Concat(s.Select(c => c is >= ' ' and <= '~' ? c : '?'));
}
