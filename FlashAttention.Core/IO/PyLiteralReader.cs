using System.Globalization;
using System.Text;

namespace FlashAttention.IO;

/// <summary>
/// Reads the few Python literals a .npy header dict is made of: quoted strings, True/False and
/// tuples of integers. A full Python parser would accept headers NumPy itself never writes.
/// </summary>
internal sealed class PyLiteralReader(string text, string path)
{
    private int pos;

    /// <summary>The next character after any whitespace, or '\0' at the end.</summary>
    public char Peek()
    {
        SkipWhitespace();
        return pos < text.Length ? text[pos] : '\0';
    }

    public void Expect(char c)
    {
        if (!TryConsume(c))
            throw Error($"expected '{c}'");
    }

    public bool TryConsume(char c)
    {
        if (Peek() != c)
            return false;
        pos++;
        return true;
    }

    public string ReadString()
    {
        char quote = Peek();
        if (quote is not ('\'' or '"'))
            throw Error("expected a quoted string");
        int start = ++pos;
        var sb = new StringBuilder();
        while (pos < text.Length && text[pos] != quote)
        {
            // An escape only matters for the quote itself; NumPy's keys and descrs have none.
            if (text[pos] == '\\' && pos + 1 < text.Length)
                pos++;
            sb.Append(text[pos++]);
        }
        if (pos >= text.Length)
        {
            pos = start - 1;
            throw Error("unterminated string");
        }
        pos++;
        return sb.ToString();
    }

    public bool ReadBool()
    {
        if (TryWord("True"))
            return true;
        if (TryWord("False"))
            return false;
        throw Error("expected True or False");
    }

    /// <summary>A tuple such as (), (5,) or (2, 3); Python 2's long suffix (3L) is accepted.</summary>
    public List<long> ReadIntTuple()
    {
        Expect('(');
        var values = new List<long>();
        while (!TryConsume(')'))
        {
            values.Add(ReadInt());
            if (!TryConsume(','))
            {
                Expect(')');
                break;
            }
        }
        return values;
    }

    /// <summary>Throws unless only whitespace is left (NumPy pads the header with spaces and a newline).</summary>
    public void ExpectEnd()
    {
        if (Peek() != '\0')
            throw Error("unexpected text after the header dict");
    }

    public NpyFormatException Error(string what) =>
        new(path, $"unparseable header: {what} at offset {pos} in {Snippet()}");

    private long ReadInt()
    {
        SkipWhitespace();
        int start = pos;
        while (pos < text.Length && char.IsAsciiDigit(text[pos]))
            pos++;
        if (pos == start)
            throw Error("expected a non-negative integer");
        if (!long.TryParse(text.AsSpan(start, pos - start), NumberStyles.None, CultureInfo.InvariantCulture, out long value))
        {
            pos = start;
            throw Error("integer too large");
        }
        if (pos < text.Length && text[pos] is 'L' or 'l')
            pos++;
        return value;
    }

    private bool TryWord(string word)
    {
        SkipWhitespace();
        if (string.CompareOrdinal(text, pos, word, 0, word.Length) != 0)
            return false;
        int end = pos + word.Length;
        if (end < text.Length && (char.IsAsciiLetterOrDigit(text[end]) || text[end] == '_'))
            return false;
        pos = end;
        return true;
    }

    private void SkipWhitespace()
    {
        while (pos < text.Length && text[pos] is ' ' or '\t' or '\n' or '\r')
            pos++;
    }

    // Keeps the message on one line and short, whatever bytes the header holds.
    private string Snippet()
    {
        const int max = 120;
        var sb = new StringBuilder("\"");
        foreach (char c in text.Length > max ? text[..max] : text.TrimEnd())
            sb.Append(c is >= ' ' and <= '~' ? c : '?');
        sb.Append(text.Length > max ? "...\"" : "\"");
        return sb.ToString();
    }
}
