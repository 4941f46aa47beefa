namespace FlashAttention.IO;

/// <summary>
/// A file is not a .npy array this library can read. The message is one line: the file's path,
/// a colon, and what is wrong with it.
/// </summary>
public sealed class NpyFormatException : Exception
{
    /// <summary>Creates the exception for <paramref name="path"/>.</summary>
    /// <param name="path">The file that was being read.</param>
    /// <param name="problem">What is wrong, as one line without the path.</param>
    public NpyFormatException(string path, string problem)
        : base($"{path}: {problem}")
    {
        Path = path;
        Problem = problem;
    }

    /// <summary>The file that was being read.</summary>
    public string Path { get; }

    /// <summary>What is wrong with it, without the path.</summary>
    public string Problem { get; }
}
