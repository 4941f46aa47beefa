namespace FlashAttention.Bench;

/// <summary>
/// An input the user gave is unusable; the message is the one line to print (naming the file).
/// Kept apart from other exceptions so that only these become a plain message, not a stack trace.
/// </summary>
public sealed class BenchInputException(string message) : Exception(message);
