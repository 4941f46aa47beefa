using System.Runtime.CompilerServices;
using FlashAttention.Kernels.Numerics;
using ILGPU.Runtime.Cuda;

namespace FlashAttention.Kernels.TensorCore;

/// <summary>Two IEEE float16 values in one 32-bit word (the first in the low half), as a float16 bias tensor stores a pair of keys.</summary>
internal static class HalfPair
{
    /// <summary>
    /// Both values as float32, exactly (infinities included, so a -inf bias still hides its pair): two cvt.f32.f16 on
    /// CUDA, the integer conversion elsewhere.
    /// </summary>
    public static (float Low, float High) Widen<TTarget>(uint pair)
        where TTarget : struct, ITensorCoreTarget
    {
        if (default(TTarget).EmitsPtx)
        {
            Ref<float> low = 0f, high = 0f;
            Ref<uint> bits = pair;
            CudaAsm.EmitRef("{ .reg .f16 l, h; mov.b32 {l, h}, %2; cvt.f32.f16 %0, l; cvt.f32.f16 %1, h; }", ref low, ref high, ref bits);
            return (low.Value, high.Value);
        }
        return (WidenBits((ushort)pair), WidenBits((ushort)(pair >> 16)));
    }

    // Out of line for the reason Float16Mma's conversions are: inlined at every call site they slow ILGPU's compile.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static float WidenBits(ushort bits) => default(Float16BitsOps).ToFloat(bits);
}
