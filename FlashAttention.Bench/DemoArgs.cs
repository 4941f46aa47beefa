namespace FlashAttention.Bench;

/// <summary>The arguments of <c>demo</c>; a null size takes the device's default.</summary>
public sealed record DemoArgs
{
    /// <summary>Accelerator to run on.</summary>
    public AcceleratorChoice Device { get; init; } = AcceleratorChoice.Auto;

    /// <summary>Batch size.</summary>
    public int? Batch { get; init; }

    /// <summary>Sequence length of q and of k, v.</summary>
    public int? SeqLen { get; init; }

    /// <summary>Heads of q, k and v.</summary>
    public int? Heads { get; init; }

    /// <summary>Head dim.</summary>
    public int? HeadDim { get; init; }

    /// <summary>Element type.</summary>
    public DemoDType DType { get; init; } = DemoDType.Float16;

    /// <summary>Causal mask.</summary>
    public bool Causal { get; init; }

    /// <summary>Seed of the random inputs.</summary>
    public int Seed { get; init; } = 1234;

    /// <summary>Timed runs after the warm-up; null for the device's default.</summary>
    public int? Runs { get; init; }
}
