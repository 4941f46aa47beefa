using FlashAttention.Kernels.Portable;
using FlashAttention.Tests.Support;
using static FlashAttention.Tests.TensorCoreForwardTests;

namespace FlashAttention.Tests;

/// <summary>
/// The tensor-core kernel with a mask alone, which goes packed to bits (<see cref="MaskBits"/>,
/// BitMaskScores) against the float64 reference: odd seqlen_k (a last word cut short), every
/// broadcast form, 16- and 32-row warps, 32- and 64-key tiles, with causal and a window; the
/// mostly-kept masks let whole tiles pass untested beside tiles tested score by score; packed documents
/// hide whole 128 x 128 blocks, which the derived block mask skips.
/// </summary>
public class TensorCoreMaskBitsTests
{
    public static TheoryData<string, ForwardCase> Cases()
    {
        var rows = new (bool Cpu, string DType, ForwardCase Case)[]
        {
            (true, "float16", Tc(2, 100, 139, 2, 1, 64, causal: true, rows: 32, bc: 32) with { MaskDims = [1, 2] }),
            (true, "bfloat16", Tc(2, 48, 130, 2, 2, 64, causal: false) with { MaskDims = [2, 2], Window = new(40, 20), MaskMostlyKept = true }),
            (false, "float16", Tc(2, 203, 203, 2, 1, 128, causal: false, rows: 32, bc: 64) with { MaskDims = [2, 1], MaskMostlyKept = true }),
            (false, "bfloat16", Tc(1, 113, 77, 2, 1, 128, causal: true, rows: 32, bc: 32) with { MaskDims = [1, 1] }),
            // Packed documents: the block mask derived from the bits skips the 128 x 128 blocks they hide whole.
            (true, "float16", Tc(1, 300, 330, 2, 1, 64, causal: false) with { MaskDims = [1, 2], MaskDocuments = true }),
            (false, "bfloat16", Tc(2, 270, 270, 2, 1, 128, causal: true, warps: 8, wgmma: true) with { MaskDims = [2, 1], MaskDocuments = true }),
            (false, "float16", Tc(1, 400, 403, 2, 2, 64, causal: false, rows: 32, bc: 64) with { MaskDims = [1, 1], MaskDocuments = true }),
            // Three warpgroups (192-row query blocks) do not fit the derived 128-row blocks: the launch derives none.
            (false, "float16", Tc(1, 400, 403, 2, 1, 128, causal: false, warps: 12, wgmma: true) with { MaskDims = [1, 1], MaskDocuments = true }),
        };
        return OnThisDevice(rows);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Matches_reference(string dtype, ForwardCase c) => ElementTypes.Run(dtype, c, TestDevice.TensorCoreEngine);

    /// <summary>The launch parameters reach a kernel intact: the packed-mask fields sit last in <see cref="ForwardParams{T}"/>.</summary>
    [Fact]
    public void Mask_bits_reach_the_kernel()
    {
        var accelerator = TestDevice.Engine.Accelerator;
        using var words = accelerator.Allocate1D(new uint[] { 0x12345678u, 0x9ABCDEF0u, 7u, 9u });
        using var probe = accelerator.Allocate1D<long>(8);
        var p = new ForwardParams<ushort>
        {
            SeqLenQ = 3,
            Bits = new MaskBits { Enabled = 1, WordsPerRow = 2, SeqLenQ = 5, Words = words.View, BatchStride = 11, HeadStride = 13, Base = 17 },
        };
        var kernel = accelerator.LoadAutoGroupedKernel<Index1D, ForwardParams<ushort>, ArrayView<long>>(Probe);
        kernel(accelerator.DefaultStream, 1, p, probe.View);
        accelerator.Synchronize();
        probe.GetAsArray1D().Should().Equal(1L, 2L, 5L, 4L, 11L, 13L, 17L, 0x9ABCDEF0L);
    }

    private static void Probe(Index1D i, ForwardParams<ushort> p, ArrayView<long> result)
    {
        result[0] = p.Bits.Enabled;
        result[1] = p.Bits.WordsPerRow;
        result[2] = p.Bits.SeqLenQ;
        result[3] = p.Bits.Words.Length;
        result[4] = p.Bits.BatchStride;
        result[5] = p.Bits.HeadStride;
        result[6] = p.Bits.Base;
        result[7] = p.Bits.Words[1];
    }
}
