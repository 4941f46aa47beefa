namespace FlashAttention.Tests.Support;

/// <summary>A test case that can run for any supported element type.</summary>
public interface IAttentionCase
{
    /// <summary>Runs the case with <typeparamref name="T"/> elements on <paramref name="engine"/> and asserts.</summary>
    void Check<T>(AttentionEngine engine) where T : unmanaged;
}

/// <summary>Runs a case for an element type named in test data.</summary>
public static class ElementTypes
{
    /// <summary>Runs <paramref name="c"/> with float32, float16 or bfloat16 elements.</summary>
    public static void Run(string dtype, IAttentionCase c, AttentionEngine engine)
    {
        switch (dtype)
        {
            case "float32": c.Check<float>(engine); break;
            case "float16": c.Check<Half>(engine); break;
            case "bfloat16": c.Check<BFloat16>(engine); break;
            default: throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "expected float32, float16 or bfloat16");
        }
    }
}
