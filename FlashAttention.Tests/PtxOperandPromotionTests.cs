using FlashAttention.Kernels.Launch;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime.Cuda;

using FlashAttention.Tests.Support;

namespace FlashAttention.Tests;

/// <summary>The PTX pass that turns ILGPU's local-memory asm operands into registers.</summary>
public class PtxOperandPromotionTests
{
    [Fact]
    public void Tensor_core_forward_keeps_no_local_memory_and_every_instruction()
    {
        // The same compilation as TensorCoreForwardTests.Compiles_to_mma_sync_ldmatrix_and_cp_async(64, fp16, 16 rows), shared:
        // this test is the only one that rewrites the kernel, and the PTX as emitted is kept apart.
        var (kernel, before) = TensorCorePtx.Forward(64, bfloat16: false, warpRows: 16);
        kernel.PTXAssembly.Should().Be(before, "no other test rewrites the shared kernel");
        before.Should().Contain(".local", "ILGPU binds asm operands through local variables, which is why the pass exists");

        int promoted = PtxOperandPromotion.Apply(kernel);

        string after = kernel.PTXAssembly;
        promoted.Should().BeGreaterThan(100);
        after.Should().NotContain(".local").And.NotContain("__local_depot");
        foreach (var instruction in new[] { "mma.sync", "ldmatrix", "cp.async.cg", "cvt.rn.f16x2.f32", "ex2.approx", "bar.sync" })
            Count(after, instruction).Should().Be(Count(before, instruction), instruction);
    }

    [Fact]
    public void Variables_used_other_than_whole_stay_in_memory()
    {
        const string ptx = """
            .visible .entry k()
            {
            	.local .align 4 .b8 __local_depot0[4];
            	.local .align 4 .b8 __local_depot1[4];
            	.reg .b32 %r<4>;
            	.reg .b64 %rd<4>;
            	mov.b64	%rd1, __local_depot0;
            	mov.b64	%rd2, __local_depot1;
            	st.local.b32	[%rd1], 7;
            	ld.local.b32	%r1, [%rd1];
            	st.local.b32	[%rd2], %r1;
            	add.s64	%rd3, %rd2, 0;
            	ld.local.b32	%r2, [%rd3];
            	ret;
            }
            """;
        var (rewritten, promoted) = PtxOperandPromotion.Rewrite(ptx);

        promoted.Should().Be(1);
        rewritten.Should().Contain("mov.b32\t%lp0, 7;").And.Contain("mov.b32\t%r1, %lp0;")
            .And.NotContain("__local_depot0").And.Contain("__local_depot1[4]").And.Contain("st.local.b32\t[%rd2], %r1;");
    }

    private static int Count(string text, string what)
    {
        int n = 0;
        for (int i = text.IndexOf(what, StringComparison.Ordinal); i >= 0; i = text.IndexOf(what, i + 1, StringComparison.Ordinal))
            n++;
        return n;
    }
}
