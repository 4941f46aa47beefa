using ILGPU.Algorithms;
using ILGPU.Runtime.Cuda;

namespace FlashAttention.Kernels.TensorCore;

/// <summary>
/// 2^x for the softmax: <c>ex2.approx.ftz.f32</c> on CUDA, one MUFU.EX2. <c>XMath.Exp2</c> emits the
/// non-ftz form, for which ptxas adds a range test and two predicated multiplies around the MUFU to
/// keep subnormal results; a probability below 2^-126 of the row's largest is 0 for the softmax
/// anyway (FlashAttention-2 flushes too, through --use_fast_math). Elsewhere: <c>XMath.Exp2</c>.
/// </summary>
internal static class FastExp2
{
    public static float Of<TTarget>(float x) where TTarget : struct, ITensorCoreTarget
    {
        if (default(TTarget).EmitsPtx)
        {
            Ref<float> y = 0f, input = x;
            CudaAsm.EmitRef("ex2.approx.ftz.f32 %0, %1;", ref y, ref input);
            return y.Value;
        }
        return XMath.Exp2(x);
    }
}
