using FlashAttention.Tests.Support;
using static FlashAttention.Tests.TensorCoreForwardTests;

namespace FlashAttention.Tests;

/// <summary>
/// The tensor-core forward with Hopper's wgmma (64-row warpgroups, swizzled tiles) against the float64
/// reference at odd shapes: sm_90a PTX on an H100, the emulation on the CPU (the rows marked Cpu: two
/// head dims, GQA, causal, element copies into the swizzle, head dims narrower than their tile, K and V
/// with different strides, two warpgroups per group).
/// </summary>
public class WgmmaForwardTests
{
    public static TheoryData<string, ForwardCase> Cases()
    {
        var rows = new (bool Cpu, string DType, ForwardCase Case)[]
        {
            (true, "float16", Tc(1, 113, 203, 2, 1, 64, causal: false, wgmma: true)),
            (true, "float16", Tc(1, 70, 300, 2, 1, 64, causal: false, wgmma: true) with { Scale = 1.5f }), // wide scores: m moves lazily (LazyRescale)
            (true, "bfloat16", Tc(1, 70, 130, 2, 1, 128, causal: true, wgmma: true)),   // GQA, rows that see no key
            (true, "float16", Tc(1, 37, 65, 1, 1, 59, causal: false, wgmma: true)),     // odd head dim: element copies into the swizzle
            (true, "bfloat16", Tc(2, 37, 65, 2, 2, 59, causal: true, wgmma: true)),    // element copies of a second batch item and kv head
            (true, "float16", Tc(1, 70, 150, 2, 1, 96, causal: false, wgmma: true)),    // d 96 in the 128 tile: cp.async zero-fills dims 96-127, full tiles and the last
            (true, "float16", Tc(2, 70, 150, 2, 2, 64, causal: true, wgmma: true) with { MixedKvLayout = true }), // K and V with different strides
            (true, "float16", Tc(1, 150, 90, 1, 1, 128, causal: true, warps: 8, wgmma: true)), // two warpgroups share K and V; Q spans two 64-row blocks
            // d 192 and 256: a copy pass covers 5 or 4 rows (not a multiple of 8), so the swizzled offset is recomputed per row; at d 192 8 threads idle.
            (true, "bfloat16", Tc(1, 45, 70, 1, 1, 192, causal: false, wgmma: true)),
            (true, "float16", Tc(1, 30, 65, 1, 1, 256, causal: true, wgmma: true)),
            (false, "float16", Tc(1, 1, 1, 1, 1, 128, causal: false, wgmma: true)),
            (false, "float16", Tc(2, 203, 113, 2, 2, 128, causal: true, wgmma: true)),
            (false, "bfloat16", Tc(1, 113, 203, 1, 1, 192, causal: false, wgmma: true)),
            (false, "float16", Tc(1, 70, 130, 1, 1, 256, causal: true, wgmma: true)),
            (false, "float16", Tc(1, 130, 203, 2, 1, 128, causal: false, warps: 8, wgmma: true) with
                { Window = new(40, 20), AlibiSlopes = [0.25f, 0.0625f], Softcap = 5f }),
            (false, "bfloat16", Tc(2, 61, 138, 2, 1, 64, causal: false, wgmma: true) with { BiasDims = [1, 2], MaskDims = [1, 1], BiasNegativeInfinity = true }),
            (true, "float16", Tc(1, 70, 90, 2, 1, 64, causal: false, wgmma: true) with { DropoutP = 0.2f, DropoutSeed = 7, DropoutOffset = 3 }),
            (false, "bfloat16", Tc(2, 203, 203, 2, 1, 128, causal: true, warps: 8, wgmma: true) with { DropoutP = 0.1f, DropoutSeed = 11 }),
            (false, "float16", Tc(1, 150, 300, 2, 1, 128, causal: false, wgmma: true) with { MaskDims = [1, 1], MaskMostlyKept = true }), // a mask alone: packed to bits
            // The packed words staged through shared memory (StagedBitMaskScores): a partial query block and key tile, a mask per item and head, causal.
            (true, "float16", Tc(1, 150, 300, 2, 1, 64, causal: false, warps: 8, wgmma: true) with { MaskDims = [1, 1], MaskMostlyKept = true }),
            (true, "bfloat16", Tc(2, 70, 130, 2, 1, 128, causal: true, wgmma: true) with { MaskDims = [2, 2], MaskMostlyKept = true }),
            // A bias alone (BiasScores: prefetched into registers, fused into the scale); batch 2 over a broadcast bias folds the grid.
            (true, "float16", Tc(2, 70, 132, 2, 1, 64, causal: true, wgmma: true) with { BiasDims = [1, 2] }),
            (false, "bfloat16", Tc(2, 203, 132, 2, 1, 128, causal: false, warps: 8, wgmma: true) with { BiasDims = [2, 2] }),
            (false, "float16", Tc(1, 113, 204, 2, 1, 192, causal: true, warps: 8, wgmma: true) with { BiasDims = [1, 1] }),
            (false, "float16", Tc(1, 70, 128, 1, 1, 256, causal: true, wgmma: true) with { BiasDims = [1, 1] }),
            (false, "float16", Tc(1, 100, 130, 2, 1, 128, causal: false, warps: 8, wgmma: true) with { BiasDims = [1, 2], BiasNegativeInfinity = true, Scale = -0.1f }),
            // Three warpgroups (192 rows) per group, the bias-only tile: a query block spans 64-row blocks of Q three times.
            (true, "float16", Tc(2, 203, 132, 2, 1, 128, causal: true, warps: 12, wgmma: true) with { BiasDims = [1, 2] }),
            (false, "bfloat16", Tc(1, 400, 203, 2, 1, 64, causal: false, warps: 12, wgmma: true) with { BiasDims = [1, 1] }),
            (false, "float16", Tc(1, 203, 300, 2, 1, 256, causal: true, warps: 12, wgmma: true) with { BiasDims = [1, 2] }),
            // A float16 bias alone (HalfBiasScores), -inf entries included; an odd seqlen_k widens it first.
            (true, "float16", Tc(2, 70, 132, 2, 1, 64, causal: true, wgmma: true) with { BiasDims = [1, 2], BiasNegativeInfinity = true, HalfBias = true }),
            (true, "bfloat16", Tc(1, 203, 132, 2, 1, 128, causal: false, warps: 12, wgmma: true) with { BiasDims = [1, 1], HalfBias = true }),
            (false, "float16", Tc(2, 203, 132, 2, 1, 128, causal: false, warps: 8, wgmma: true) with { BiasDims = [2, 2], HalfBias = true }),
            (false, "float16", Tc(2, 203, 300, 2, 1, 128, causal: true, warps: 12, wgmma: true) with { BiasDims = [1, 2], BiasNegativeInfinity = true, HalfBias = true }),
            (false, "bfloat16", Tc(1, 113, 204, 2, 1, 192, causal: true, warps: 8, wgmma: true) with { BiasDims = [1, 1], HalfBias = true }),
            (false, "float16", Tc(1, 100, 131, 2, 1, 128, causal: false, warps: 8, wgmma: true) with { BiasDims = [1, 2], HalfBias = true }),
            // seqlen_k a multiple of 8: the float16 bias is staged through shared memory by cp.async (StagedHalfBiasScores), a last tile of 8 keys included.
            (true, "float16", Tc(2, 70, 136, 2, 1, 64, causal: true, wgmma: true) with { BiasDims = [1, 2], BiasNegativeInfinity = true, HalfBias = true }),
            (false, "bfloat16", Tc(2, 203, 200, 2, 1, 64, causal: false, warps: 8, wgmma: true) with { BiasDims = [2, 2], HalfBias = true }),
            (false, "float16", Tc(1, 203, 264, 2, 1, 128, causal: true, warps: 12, wgmma: true) with { BiasDims = [1, 2], HalfBias = true }),
            (false, "float16", Tc(1, 113, 72, 2, 1, 192, causal: false, warps: 8, wgmma: true) with { BiasDims = [1, 1], HalfBias = true, Scale = -0.1f }),
        };
        return OnThisDevice(rows);
    }

    /// <summary>Packed variable-length batches through the wgmma kernel.</summary>
    public static TheoryData<string, VarLenCase> VarLen()
    {
        var rows = new (bool Cpu, string DType, VarLenCase Case)[]
        {
            (true, "bfloat16", Wg(new VarLenCase([1, 45, 70], [1, 70, 33], 2, 1, 64, Causal: true), warps: 4)),
            (false, "float16", Wg(new VarLenCase([1, 113, 203, 0, 300], [1, 113, 150, 7, 333], 4, 2, 128, Causal: true), warps: 8)),
            (false, "bfloat16", Wg(new VarLenCase([130, 7, 260], [90, 300, 260], 2, 1, 256, Causal: false), warps: 4)),
        };
        bool cuda = TestDevice.TensorCoreEngine.AcceleratorType == AcceleratorType.Cuda;
        var data = new TheoryData<string, VarLenCase>();
        foreach (var (cpu, dtype, c) in rows)
            if (cpu || (cuda && TestDevice.TensorCoreEngine.HasWgmma))
                data.Add(dtype, c);
        return data;
    }

    private static VarLenCase Wg(VarLenCase c, int warps) =>
        c with { Kernel = KernelPath.TensorCore, TensorCoreTile = new TensorCoreTile(warps, Wgmma: true) };

    [Theory]
    [MemberData(nameof(VarLen))]
    public void Matches_reference_per_sequence(string dtype, VarLenCase c) => ElementTypes.Run(dtype, c, TestDevice.TensorCoreEngine);

    [Theory]
    [MemberData(nameof(Cases))]
    public void Matches_reference(string dtype, ForwardCase c) => ElementTypes.Run(dtype, c, TestDevice.TensorCoreEngine);
}
