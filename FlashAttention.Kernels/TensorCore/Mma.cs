using ILGPU.Runtime.Cuda;

namespace FlashAttention.Kernels.TensorCore;

/// <summary>
/// D = A B + D on the tensor cores (mma.sync.aligned.m16n8k16, fp16 or bf16 in, fp32 accumulate)
/// when the kernel runs on CUDA, and the same warp-collective result in plain C# elsewhere: the
/// emulation gathers the A row pairs and B columns each lane needs from the lanes that own them
/// through a <see cref="WarpExchange"/>, so a tensor-core kernel keeps its fragment layouts, index
/// math and results on the CPU accelerator, where it can be tested and debugged. Every lane of the
/// warp must call it.
/// </summary>
public static class Mma
{
    /// <summary>
    /// acc += a b for one 16 x 8 x 16 product of <typeparamref name="TElement"/> operands; <paramref name="exchange"/>
    /// is the group's board (<see cref="WarpExchange.Allocate{TTarget}"/>), used off CUDA only.
    /// </summary>
    public static void MultiplyAccumulate<TTarget, TElement>(ref FragmentC acc, in FragmentA a, in FragmentB b, in WarpExchange exchange)
        where TTarget : struct, ITensorCoreTarget
        where TElement : struct, IMmaElement
    {
        if (default(TTarget).EmitsPtx)
        {
            Ref<float> d0 = acc.C0, d1 = acc.C1, d2 = acc.C2, d3 = acc.C3;
            Ref<uint> a0 = a.A0, a1 = a.A1, a2 = a.A2, a3 = a.A3, b0 = b.B0, b1 = b.B1;
            if (default(TElement).IsBFloat16)
                CudaAsm.EmitRef(
                    "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};",
                    ref d0, ref d1, ref d2, ref d3, ref a0, ref a1, ref a2, ref a3, ref b0, ref b1);
            else
                CudaAsm.EmitRef(
                    "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};",
                    ref d0, ref d1, ref d2, ref d3, ref a0, ref a1, ref a2, ref a3, ref b0, ref b1);
            acc.C0 = d0.Value;
            acc.C1 = d1.Value;
            acc.C2 = d2.Value;
            acc.C3 = d3.Value;
        }
        else
        {
            Emulate<TElement>(ref acc, a, b, exchange);
        }
    }

    /// <summary>
    /// The warp-collective C# equivalent: lane (g, q) sums rows g and g+8 of A against columns 2q and
    /// 2q+1 of B, reading the fragments of the 12 lanes that hold them from the board.
    /// </summary>
    private static void Emulate<TElement>(ref FragmentC acc, in FragmentA a, in FragmentB b, in WarpExchange exchange)
        where TElement : struct, IMmaElement
    {
        int lane = Warp.LaneIdx;
        int g = lane >> 2;
        int q = lane & 3;
        exchange.Post(0, a.A0);
        exchange.Post(1, a.A1);
        exchange.Post(2, a.A2);
        exchange.Post(3, a.A3);
        exchange.Post(4, b.B0);
        exchange.Post(5, b.B1);
        WarpExchange.Meet();
        // k runs over 8 pairs: pairs 0..3 sit in A0/A1 (B0) of lanes 4r + j, pairs 4..7 in A2/A3 (B1).
        for (int j = 0; j < 4; j++)
        {
            int row = g * 4 + j;             // A[g][2j..], A[g+8][2j..], A[g][2j+8..], A[g+8][2j+8..]
            int even = 2 * q * 4 + j;        // B[2j..][2q], B[2j+8..][2q]
            int odd = (2 * q + 1) * 4 + j;   // B[2j..][2q+1], B[2j+8..][2q+1]
            uint a0 = exchange.Read(row, 0), a1 = exchange.Read(row, 1), a2 = exchange.Read(row, 2), a3 = exchange.Read(row, 3);
            uint evenB0 = exchange.Read(even, 4), evenB1 = exchange.Read(even, 5);
            uint oddB0 = exchange.Read(odd, 4), oddB1 = exchange.Read(odd, 5);
            acc.C0 += Dot<TElement>(a0, evenB0) + Dot<TElement>(a2, evenB1);
            acc.C1 += Dot<TElement>(a0, oddB0) + Dot<TElement>(a2, oddB1);
            acc.C2 += Dot<TElement>(a1, evenB0) + Dot<TElement>(a3, evenB1);
            acc.C3 += Dot<TElement>(a1, oddB0) + Dot<TElement>(a3, oddB1);
        }
        WarpExchange.Meet();
    }

    private static float Dot<TElement>(uint x, uint y) where TElement : struct, IMmaElement
    {
        var e = default(TElement);
        return e.ToFloat((ushort)x) * e.ToFloat((ushort)y) + e.ToFloat((ushort)(x >> 16)) * e.ToFloat((ushort)(y >> 16));
    }

    /// <summary>Packs two 16-bit patterns into one register, <paramref name="low"/> first.</summary>
    public static uint Pack(ushort low, ushort high) => low | ((uint)high << 16);
}
