using FlashAttention.Kernels.Launch;
using FlashAttention.Kernels.Numerics;
using FlashAttention.Kernels.TensorCore;
using FlashAttention.Tests.Support;

namespace FlashAttention.Tests;

/// <summary>
/// The tensor-core forward kernel, forced through the engine, against the float64 reference at odd
/// shapes: on CUDA as inline PTX, on the CPU through the warp emulation of mma.sync / ldmatrix /
/// cp.async (the same fragment layouts, index math, pipeline and masking).
/// </summary>
public class TensorCoreForwardTests
{
    // The warp-shuffle emulation is slow on the CPU (every shuffle is a 32-thread rendezvous, and
    // each specialisation takes ILGPU a while to compile): the CPU runs the rows marked Cpu, which
    // between them cover every piece of the kernel (16- and 32-row warps, 32- and 64-key tiles,
    // a partial 64 + 32 output block, element copies for odd head dims, the window, ALiBi, soft
    // cap, bias and mask tensors); a CUDA test device (FLASH_TEST_DEVICE=cuda) runs them all.
    public static TheoryData<string, ForwardCase> Cases()
    {
        var rows = new (bool Cpu, string DType, ForwardCase Case)[]
        {
            (true, "float16", Tc(1, 1, 1, 1, 1, 64, causal: false)),
            (true, "float16", Tc(1, 80, 75, 2, 1, 64, causal: true)),       // GQA; seqlen_q > seqlen_k: rows that see no key
            (true, "float16", Tc(1, 40, 300, 2, 1, 64, causal: false) with { Scale = 1.5f }), // wide scores: m moves lazily (LazyRescale) and P passes 1
            (true, "bfloat16", Tc(1, 70, 33, 2, 1, 96, causal: false)),     // MQA, d 96: a 64 + 32 output block
            (false, "float16", Tc(1, 33, 70, 1, 1, 128, causal: true)),
            (false, "float16", Tc(1, 20, 70, 1, 1, 256, causal: true)),
            (true, "float16", Tc(1, 40, 70, 1, 1, 40, causal: false)),      // head dim 40 runs the 64 kernel, zero-padded
            (true, "bfloat16", Tc(1, 37, 65, 1, 1, 59, causal: true)),      // odd head dim: rows not 16-byte aligned, element copies
            (false, "float16", Tc(1, 130, 70, 1, 1, 32, causal: true, warps: 8)), // two 128-row groups
            (true, "float16", Tc(2, 45, 40, 1, 1, 64, causal: false, bhsd: true)),
            (false, "float16", Tc(1, 150, 90, 1, 1, 64, causal: true, rows: 32)),   // 32 rows per warp: two blocks share K/V fragments
            (false, "bfloat16", Tc(1, 47, 70, 1, 1, 128, causal: false, rows: 32)), // rows end inside the bottom blocks
            // 32-key tiles with two row blocks per warp (the d 96-128 default).
            (true, "float16", Tc(1, 150, 90, 1, 1, 64, causal: true, rows: 32, bc: 32)),
            (false, "bfloat16", Tc(1, 130, 203, 2, 1, 128, causal: true, rows: 32, bc: 32)),
            // Score variants: window tiles skipped on both sides and cut inside, ALiBi, soft cap, custom scale.
            (true, "float16", Tc(1, 130, 203, 1, 1, 64, causal: false) with { Window = new(40, 20) }),
            (true, "float16", Tc(1, 150, 90, 2, 1, 64, causal: true, rows: 32, bc: 32) with
                { Window = new(30, AttentionWindow.Unbounded), AlibiSlopes = [0.25f, 0.0625f], Scale = 0.9f, Softcap = 5f }),
            (false, "float16", Tc(1, 70, 70, 1, 1, 64, causal: false) with { Scale = 0.9f, Softcap = 5f }),
            // Bias and mask tensors, broadcast over batch or heads, with -inf bias entries and rows the mask hides entirely.
            (true, "float16", Tc(2, 70, 90, 2, 1, 64, causal: true, rows: 32, bc: 32) with { BiasDims = [1, 2], MaskDims = [2, 1], Softcap = 5f }),
            (false, "bfloat16", Tc(1, 113, 203, 2, 2, 128, causal: false, rows: 32, bc: 32) with { BiasDims = [1, 1], BiasNegativeInfinity = true }),
            // A bias alone on an even seqlen_k takes the fused BiasScores mode: both row blocks of 32-row warps load it; keys
            // and rows past the ends take the clamped elements unmasked until the sequence-end mask.
            (true, "float16", Tc(1, 45, 98, 2, 1, 64, causal: false, rows: 32, bc: 32) with { BiasDims = [1, 2], BiasNegativeInfinity = true }),
            (false, "bfloat16", Tc(2, 113, 202, 2, 1, 128, causal: true) with { BiasDims = [1, 1] }),
            (false, "float16", Tc(1, 64, 130, 2, 1, 64, causal: false) with { BiasDims = [1, 2], Scale = -0.1f }), // S scaled one by one: the bias in log2 units
            (false, "float16", Tc(1, 113, 113, 2, 2, 64, causal: false) with { MaskDims = [1, 2], AlibiSlopes = [0.25f, 0.0625f] }),
            // 16-row warps (the default with tensors) load each tile's bias and mask elements ahead of S = Q K^T:
            // in pairs for an even seqlen_k (138, 78; rows and keys end inside tiles), one by one in the softmax for an
            // odd one (131). Tensors that all broadcast over the batch fold it into grid x (the first row).
            (true, "float16", Tc(2, 61, 138, 2, 1, 64, causal: false) with { BiasDims = [1, 2], MaskDims = [1, 1], BiasNegativeInfinity = true }),
            (true, "bfloat16", Tc(2, 61, 131, 2, 1, 64, causal: true) with { BiasDims = [2, 1], MaskDims = [1, 2] }),
            (true, "float16", Tc(2, 45, 78, 2, 1, 64, causal: false) with { BiasDims = [2, 2], MaskDims = [2, 1] }),
            // A float16 bias alone (HalfBiasScores: a pair a 4-byte load) on both warp shapes; with an odd seqlen_k or beside a
            // mask it is widened to float32 first and takes the float32 modes.
            (true, "float16", Tc(1, 45, 98, 2, 1, 64, causal: false, rows: 32, bc: 32) with { BiasDims = [1, 2], BiasNegativeInfinity = true, HalfBias = true }),
            (true, "bfloat16", Tc(2, 61, 138, 2, 1, 64, causal: true) with { BiasDims = [1, 2], HalfBias = true }),
            (false, "float16", Tc(2, 113, 202, 2, 1, 128, causal: true) with { BiasDims = [2, 1], HalfBias = true }),
            (false, "float16", Tc(1, 64, 130, 2, 1, 64, causal: false) with { BiasDims = [1, 2], Scale = -0.1f, HalfBias = true }),
            (false, "bfloat16", Tc(1, 61, 131, 2, 1, 64, causal: false) with { BiasDims = [1, 2], HalfBias = true }),
            (false, "float16", Tc(2, 61, 138, 2, 1, 64, causal: false) with { BiasDims = [1, 2], MaskDims = [1, 1], HalfBias = true }),
        };
        return OnThisDevice(rows);
    }

    /// <summary>Every row on a CUDA test device; on the CPU (the warp emulation) only the rows marked Cpu.</summary>
    internal static TheoryData<string, ForwardCase> OnThisDevice((bool Cpu, string DType, ForwardCase Case)[] rows)
    {
        bool cuda = TestDevice.TensorCoreEngine.AcceleratorType == AcceleratorType.Cuda;
        var data = new TheoryData<string, ForwardCase>();
        bool wgmma = TestDevice.TensorCoreEngine.HasWgmma;
        foreach (var (cpu, dtype, c) in rows)
            if ((cpu || cuda) && !(cuda && c.TensorCoreTile is { Wgmma: true } && !wgmma)) // sm_90a code runs on compute capability 9.0 only
                data.Add(dtype, c);
        return data;
    }

    internal static ForwardCase Tc(int b, int sq, int sk, int hq, int hkv, int d, bool causal, int warps = 4, bool bhsd = false,
        int rows = 16, int bc = 64, bool wgmma = false) =>
        new(b, sq, sk, hq, hkv, d, causal, BhsdLayout: bhsd, Kernel: KernelPath.TensorCore, TensorCoreTile: new TensorCoreTile(warps, WarpRows: rows, Bc: bc, Wgmma: wgmma));

    [Theory]
    [MemberData(nameof(Cases))]
    public void Matches_reference(string dtype, ForwardCase c) => ElementTypes.Run(dtype, c, TestDevice.TensorCoreEngine);

    [Theory]
    [InlineData(64, false, 16)]
    [InlineData(64, true, 32)]
    public void Compiles_to_mma_sync_ldmatrix_and_cp_async(int dim, bool bfloat16, int warpRows)
    {
        // The first row is the same compilation as PtxOperandPromotionTests' (d 64, fp16, 16 rows): compiled once per run.
        // The second takes bf16 and 32-row warps at d 64: the instructions do not depend on the head dim, and its d 128
        // form took 45-65 s of CI's CPU to compile (that kernel runs in this class's GPU-only rows on CUDA).
        string ptx = TensorCorePtx.Forward(dim, bfloat16, warpRows).Ptx;
        string type = bfloat16 ? "bf16" : "f16";
        ptx.Should().Contain($"mma.sync.aligned.m16n8k16.row.col.f32.{type}.{type}.f32")
            .And.Contain("ldmatrix.sync.aligned.m8n8.x4.shared.b16")
            .And.Contain("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16")
            .And.Contain("cp.async.cg.shared.global").And.Contain("cp.async.wait_group")
            .And.Contain($"cvt.rn.{type}x2.f32");
    }
}
