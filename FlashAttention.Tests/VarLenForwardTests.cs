using FlashAttention.Kernels.Portable;
using FlashAttention.Tests.Support;

namespace FlashAttention.Tests;

/// <summary>
/// Variable-length forward (packed sequences with cu_seqlens) on both portable kernels and the
/// tensor-core kernel, each sequence against the float64 reference run on its slice alone.
/// </summary>
public class VarLenForwardTests
{
    public static TheoryData<string, VarLenCase> Portable()
    {
        var rows = new (string DType, VarLenCase Case)[]
        {
            ("float32", new VarLenCase([1, 113, 203], [1, 113, 203], 2, 2, 64, Causal: false)),
            ("float16", new VarLenCase([1, 113, 203], [70, 40, 203], 2, 1, 64, Causal: true)),     // GQA; seqlen_q > seqlen_k inside a sequence
            ("bfloat16", new VarLenCase([0, 17, 64], [5, 0, 64], 3, 1, 40, Causal: true)),         // MQA, odd head dim; empty q and empty k sequences
            ("float16", new VarLenCase([30, 0, 90], [100, 20, 45], 2, 2, 64, Causal: false) with { Window = new(20, 10), ExtraMax = 7 }),
            ("float32", new VarLenCase([40, 70], [60, 33], 2, 1, 32, Causal: true) with
                { AlibiSlopes = [0.25f, 0.0625f, 0.5f, 0.125f], Softcap = 5f, Scale = 0.9f }),        // [batch, heads_q] slopes
            ("float16", new VarLenCase([40, 70], [60, 33], 2, 2, 64, Causal: false) with { DropoutP = 0.2f, DropoutSeed = 7, DropoutOffset = 3 }),
        };
        var data = new TheoryData<string, VarLenCase>();
        foreach (var (dtype, c) in rows)
        foreach (var variant in new[] { ForwardVariant.V3, ForwardVariant.V4 })
            data.Add(dtype, c with { Kernel = KernelPath.Portable, Tile = PortableVariants.DefaultTile(c.HeadDim, variant) });
        return data;
    }

    [Theory]
    [MemberData(nameof(Portable))]
    public void Portable_kernels_match_reference_per_sequence(string dtype, VarLenCase c) => ElementTypes.Run(dtype, c, TestDevice.Engine);

    // The warp emulation is slow on the CPU: short sequences, and the tile shapes (specialisations)
    // TensorCoreForwardTests compiles already, so a full run compiles nothing more.
    public static TheoryData<string, VarLenCase> TensorCore() => new()
    {
        { "bfloat16", Tc(new VarLenCase([1, 45, 70], [1, 70, 33], 2, 1, 64, Causal: true), rows: 16, bc: 64) },
        { "float16", Tc(new VarLenCase([0, 17, 40], [5, 0, 40], 1, 1, 40, Causal: false) with { Window = new(8, 4) }, rows: 32, bc: 32) },
    };

    private static VarLenCase Tc(VarLenCase c, int rows, int bc) =>
        c with { Kernel = KernelPath.TensorCore, TensorCoreTile = new TensorCoreTile(4, WarpRows: rows, Bc: bc) };

    [Theory]
    [MemberData(nameof(TensorCore))]
    public void Tensor_core_kernel_matches_reference_per_sequence(string dtype, VarLenCase c) =>
        ElementTypes.Run(dtype, c, TestDevice.TensorCoreEngine);
}
