using System.Runtime.CompilerServices;
using FlashAttention.Kernels.Numerics;
using ILGPU.Runtime.Cuda;

namespace FlashAttention.Kernels.TensorCore;

/// <summary>
/// The 16-bit element type a tensor-core kernel multiplies (kept as raw bits in ushort so one kernel
/// body serves both): which mma.sync variant it takes and how floats narrow to it.
/// </summary>
public interface IMmaElement
{
    /// <summary>True for bfloat16, false for IEEE float16: selects the mma.sync and cvt variants.</summary>
    bool IsBFloat16 { get; }

    /// <summary>Widens one element (the CPU emulation of mma.sync).</summary>
    float ToFloat(ushort bits);

    /// <summary>
    /// Narrows two floats (round to nearest even) into one register, <paramref name="low"/> in the low
    /// half: one cvt.rn.f16x2.f32 / cvt.rn.bf16x2.f32 on CUDA.
    /// </summary>
    uint Pack<TTarget>(float low, float high) where TTarget : struct, ITensorCoreTarget;
}

/// <summary>IEEE float16 operands.</summary>
/// <remarks>
/// The software conversions (several branches each) are kept out of line: inlined at each of the
/// kernel's hundred-odd call sites they made ILGPU spend ~100 s compiling one fp16 specialisation
/// (bf16, whose conversions are a few integer operations, took ~15 s), even for PTX, where the
/// branch that calls them is dropped.
/// </remarks>
public readonly struct Float16Mma : IMmaElement
{
    /// <inheritdoc />
    public bool IsBFloat16 => false;

    /// <inheritdoc />
    public float ToFloat(ushort bits) => Widen(bits);

    /// <inheritdoc />
    public uint Pack<TTarget>(float low, float high) where TTarget : struct, ITensorCoreTarget
    {
        if (default(TTarget).EmitsPtx)
        {
            Ref<uint> d = 0u;
            Ref<float> hi = high, lo = low;
            CudaAsm.EmitRef("cvt.rn.f16x2.f32 %0, %1, %2;", ref d, ref hi, ref lo);
            return d.Value;
        }
        return Narrow(low, high);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static float Widen(ushort bits) => default(Float16BitsOps).ToFloat(bits);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static uint Narrow(float low, float high)
    {
        var ops = default(Float16BitsOps);
        return ops.FromFloat(low) | ((uint)ops.FromFloat(high) << 16);
    }
}

/// <summary>bfloat16 operands.</summary>
public readonly struct BFloat16Mma : IMmaElement
{
    /// <inheritdoc />
    public bool IsBFloat16 => true;

    /// <inheritdoc />
    public float ToFloat(ushort bits) => Interop.IntAsFloat((uint)bits << 16);

    /// <inheritdoc />
    public uint Pack<TTarget>(float low, float high) where TTarget : struct, ITensorCoreTarget
    {
        if (default(TTarget).EmitsPtx)
        {
            Ref<uint> d = 0u;
            Ref<float> hi = high, lo = low;
            CudaAsm.EmitRef("cvt.rn.bf16x2.f32 %0, %1, %2;", ref d, ref hi, ref lo);
            return d.Value;
        }
        return BFloat16.RoundToNearestEven(Interop.FloatAsInt(low)) | ((uint)BFloat16.RoundToNearestEven(Interop.FloatAsInt(high)) << 16);
    }
}
