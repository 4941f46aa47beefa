using FlashAttention.Kernels.Numerics;
using FlashAttention.Kernels.Portable;
using FlashAttention.Kernels.TensorCore;
using FlashAttention.Tests.Support;

namespace FlashAttention.Tests;

/// <summary>
/// The tensor-core forward kernel (work in progress, not yet dispatched by the engine), with its
/// fragment layouts, ldmatrix/mma emulation, masking and online softmax, against the float64
/// reference on the CPU accelerator at odd shapes.
/// </summary>
public class TensorCoreForwardTests
{
    public static TheoryData<ForwardCase> Cases() => new()
    {
        // The warp-shuffle emulation is slow on the CPU (every shuffle is a 32-thread rendezvous):
        // few heads, odd lengths that still cross tile edges.
        new ForwardCase(1, 1, 1, 1, 1, 64, Causal: false),
        new ForwardCase(1, 80, 75, 2, 1, 64, Causal: true),    // GQA; seqlen_q > seqlen_k: rows that see no key
        new ForwardCase(1, 40, 70, 1, 1, 40, Causal: false),   // head dim 40 runs the 64 kernel, zero-padded
        new ForwardCase(2, 33, 70, 1, 1, 128, Causal: true),
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Matches_reference(ForwardCase c)
    {
        string name = $"tensor-core {c}";
        var rng = new RandomTensors(RandomTensors.SeedFor(name));
        var q = rng.Bshd<Half>(c.Batch, c.SeqQ, c.HeadsQ, c.HeadDim);
        var k = rng.Bshd<Half>(c.Batch, c.SeqK, c.HeadsKv, c.HeadDim);
        var v = rng.Bshd<Half>(c.Batch, c.SeqK, c.HeadsKv, c.HeadDim);
        var output = HostTensor<Half>.Bshd(Enumerable.Repeat((Half)float.NaN, q.Data.Length).ToArray(), c.Batch, c.SeqQ, c.HeadsQ, c.HeadDim);
        var lse = Enumerable.Repeat(float.NaN, c.Batch * c.HeadsQ * c.SeqQ).ToArray();
        float scale = 1f / MathF.Sqrt(c.HeadDim);

        Run(q, k, v, output, lse, scale, c.Causal);

        c.Judge(name, rng.Seed, q, k, v, scale, output, lse);
    }

    [Theory]
    [InlineData(64)]
    [InlineData(128)]
    public void Compiles_to_mma_sync_and_ldmatrix(int dim)
    {
        using var context = Context.Create(b => b.EnableAlgorithms().Optimize(OptimizationLevel.O2));
        using var backend = new ILGPU.Backends.PTX.PTXBackend(context, new ILGPU.Runtime.Cuda.CudaCapabilityContext(ILGPU.Runtime.Cuda.CudaArchitecture.SM_80),
            ILGPU.Runtime.Cuda.CudaArchitecture.SM_80, ILGPU.Runtime.Cuda.CudaInstructionSet.ISA_80, null);
        var method = typeof(TensorCoreForwardKernel).GetMethod(nameof(TensorCoreForwardKernel.Run))!.MakeGenericMethod(Constants.TypeOf(dim));
        var ptx = ((ILGPU.Backends.PTX.PTXCompiledKernel)backend.Compile(
            ILGPU.Backends.EntryPoints.EntryPointDescription.FromExplicitlyGroupedKernel(method), KernelSpecialization.Empty)).PTXAssembly;
        ptx.Should().Contain("mma.sync.aligned.m16n8k16").And.Contain("ldmatrix.sync.aligned.m8n8.x4.shared.b16")
            .And.Contain("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16");
    }

    private static void Run(HostTensor<Half> q, HostTensor<Half> k, HostTensor<Half> v, HostTensor<Half> output, float[] lse, float scale, bool causal)
    {
        var accelerator = TestDevice.Engine.Accelerator;
        using var dq = accelerator.Allocate1D(q.Data);
        using var dk = accelerator.Allocate1D(k.Data);
        using var dv = accelerator.Allocate1D(v.Data);
        using var dOut = accelerator.Allocate1D(output.Data);
        using var dLse = accelerator.Allocate1D(lse);
        var (ql, kl) = (q.Layout, k.Layout);
        StridedTensor<Half> View(MemoryBuffer1D<Half, Stride1D.Dense> b, TensorLayout l) => new(b.View, l.BatchStride, l.SeqStride, l.HeadStride);
        var p = new ForwardParams<Half>
        {
            Q = View(dq, ql), K = View(dk, kl), V = View(dv, kl), O = View(dOut, output.Layout),
            Lse = dLse.View, WriteLse = 1, SeqLenQ = ql.SeqLen, SeqLenK = kl.SeqLen, HeadsQ = ql.Heads, HeadDim = ql.HeadDim,
            QueryHeadsPerKvHead = ql.Heads / kl.Heads, ScaleLog2 = scale * 1.4426950408889634f,
            Mask = new AttentionMask(ql.SeqLen, kl.SeqLen, causal),
        }.As<Half, ushort>();
        int dim = ql.HeadDim <= 64 ? 64 : 128;
        var method = typeof(TensorCoreForwardKernel).GetMethod(nameof(TensorCoreForwardKernel.Run))!
            .MakeGenericMethod(Constants.TypeOf(dim));
        var kernel = accelerator.LoadKernel(method.CreateDelegate<Action<ForwardParams<ushort>>>());
        var grid = new Index3D((ql.SeqLen + TensorCoreForwardKernel.Br - 1) / TensorCoreForwardKernel.Br, ql.Heads, ql.Batch);
        kernel(accelerator.DefaultStream, new KernelConfig(grid, new Index3D(TensorCoreForwardKernel.Threads, 1, 1),
            SharedMemoryConfig.RequestDynamic<ushort>(TensorCoreForwardKernel.SharedElements(dim))), p);
        accelerator.Synchronize();
        dOut.View.CopyToCPU(output.Data);
        dLse.View.CopyToCPU(lse);
    }
}
