using System.Reflection;
using FlashAttention.Kernels.Numerics;
using FlashAttention.Kernels.Portable;
using FlashAttention.Kernels.TensorCore;

namespace FlashAttention.Kernels.Launch;

/// <summary>Names every kernel specialisation as a closed generic method: for the launcher and for offline compilation.</summary>
public static class KernelCatalog
{
    /// <summary>Element types the kernels take, with the struct that converts each.</summary>
    public static IReadOnlyDictionary<Type, Type> ElementOps { get; } = new Dictionary<Type, Type>
    {
        [typeof(float)] = typeof(Float32Ops),
        [typeof(Half)] = typeof(Float16Ops),
        [typeof(BFloat16)] = typeof(BFloat16Ops),
        [typeof(ushort)] = typeof(Float16BitsOps), // float16 as raw bits, for devices without fp16
    };

    /// <summary>Whether <paramref name="elementType"/> is a supported storage type.</summary>
    public static bool IsSupportedElement(Type elementType) =>
        elementType == typeof(float) || elementType == typeof(Half) || elementType == typeof(BFloat16);

    /// <summary>
    /// The portable forward kernel for one storage type (float, Half, BFloat16, or ushort holding
    /// float16 bits), compiled head dim and tile, with its tiles in dynamic or static shared memory.
    /// </summary>
    /// <remarks><paramref name="variant"/> picks the kernel body (<see cref="ForwardVariant"/>).</remarks>
    public static MethodInfo PortableForward(Type storageType, int dimPadded, int br, int bc, bool dynamicShared = true,
        ForwardVariant variant = ForwardVariant.V3) =>
        variant == ForwardVariant.V4
            ? typeof(ParallelForwardKernel).GetMethod(nameof(ParallelForwardKernel.Run))!.MakeGenericMethod(
                storageType, ElementOps[storageType], VectorElements[storageType], SharedTiles(dynamicShared),
                Constants.TypeOf(dimPadded), Constants.TypeOf(br), Constants.TypeOf(bc))
            : typeof(ForwardKernel).GetMethod(nameof(ForwardKernel.Run))!.MakeGenericMethod(
                storageType, ElementOps[storageType], SharedTiles(dynamicShared),
                Constants.TypeOf(dimPadded), Constants.TypeOf(br), Constants.TypeOf(bc));

    private static Type SharedTiles(bool dynamicShared) => dynamicShared ? typeof(DynamicSharedTiles) : typeof(StaticSharedTiles);

    /// <summary>
    /// The tensor-core forward as inline PTX (<paramref name="nativePtx"/>, CUDA) or its emulation,
    /// for fp16 (<paramref name="bfloat16"/> false) or bf16, compiled head dim (a multiple of 32 up to
    /// 256), warps per group (4 or 8; 12 for wgmma), query rows per warp (16 or 32), keys per tile (32 or 64), and
    /// with the soft cap and ALiBi compiled in (<paramref name="pointwiseScores"/>), and the bias and
    /// mask tensors too (<paramref name="scoreTensors"/>), and dropout with all of them (<paramref name="dropout"/>), or none
    /// but a mask packed to bits (<paramref name="bitMask"/>, <see cref="BitMaskScores"/>) or a bias alone (<paramref name="biasOnly"/>,
    /// <see cref="BiasScores"/>, or on float16 with <paramref name="halfBias"/>, <see cref="HalfBiasScores"/>); with mma.sync,
    /// or with Hopper's wgmma (<paramref name="wgmma"/>), then optionally pipelined (<paramref name="pipelined"/>, <see cref="WgmmaPipelinedForwardKernel"/>),
    /// and there a float16 bias staged through shared memory by cp.async (<paramref name="stagedBias"/>, <see cref="StagedHalfBiasScores"/>)
    /// or the packed mask's words so staged (<paramref name="stagedMask"/>, <see cref="StagedBitMaskScores"/>); a packed mask or staged
    /// bias can seed S's product (<paramref name="seeded"/>, <see cref="SeededScores{TMode}"/>; ignored for other modes and when pipelined).
    /// </summary>
    public static MethodInfo TensorCoreForward(bool nativePtx, bool bfloat16, int dimPadded, int warps, int warpRows = 16, int bc = 64,
        bool pointwiseScores = false, bool scoreTensors = false, bool dropout = false, bool bitMask = false, bool wgmma = false, bool biasOnly = false,
        bool halfBias = false, bool pipelined = false, bool stagedBias = false, bool stagedMask = false, bool seeded = false)
    {
        var element = bfloat16 ? typeof(BFloat16Mma) : typeof(Float16Mma);
        var scores = dropout ? typeof(DropoutScores)
            : scoreTensors ? typeof(TensorScores)
            : pointwiseScores ? typeof(PointwiseScores)
            : bitMask ? (stagedMask ? typeof(StagedBitMaskScores) : typeof(BitMaskScores))
            : biasOnly ? (halfBias ? (stagedBias ? typeof(StagedHalfBiasScores) : typeof(HalfBiasScores)) : typeof(BiasScores))
            : typeof(PlainScores);
        // Only a packed mask alone or a staged float16 bias seeds S, and never in the pipelined kernel (see SeededScores).
        if (seeded && !pipelined && (scores == typeof(BitMaskScores) || scores == typeof(StagedBitMaskScores) || scores == typeof(StagedHalfBiasScores)))
            scores = typeof(SeededScores<>).MakeGenericType(scores);
        return wgmma
            ? (pipelined ? typeof(WgmmaPipelinedForwardKernel) : typeof(WgmmaForwardKernel)).GetMethod(nameof(WgmmaForwardKernel.Run))!.MakeGenericMethod(
                Target(nativePtx, wgmma), element, Constants.TypeOf(dimPadded), Constants.TypeOf(warps), scores)
            : typeof(TensorCoreForwardKernel).GetMethod(nameof(TensorCoreForwardKernel.Run))!.MakeGenericMethod(
                Target(nativePtx), element, Constants.TypeOf(dimPadded), Constants.TypeOf(warps), Constants.TypeOf(warpRows), Constants.TypeOf(bc), scores);
    }

    /// <summary>The tensor-core target type: inline PTX or the emulation, of mma.sync or (<paramref name="wgmma"/>) of wgmma.</summary>
    public static Type Target(bool nativePtx, bool wgmma = false) =>
        wgmma ? (nativePtx ? typeof(NativeWgmma) : typeof(WgmmaEmulation)) : nativePtx ? typeof(NativePtx) : typeof(WarpEmulation);

    /// <summary>The backward's preprocessing pass D = rowsum(dO * O).</summary>
    public static MethodInfo RowDot(Type storageType) =>
        typeof(RowDotKernel).GetMethod(nameof(RowDotKernel.Run))!.MakeGenericMethod(storageType, ElementOps[storageType]);

    /// <summary>The backward's dK/dV kernel.</summary>
    public static MethodInfo PortableBackwardKeyValue(Type storageType, int dimPadded, int br, int bc, bool dynamicShared = true) =>
        Backward(typeof(BackwardKeyValueKernel), storageType, dimPadded, br, bc, dynamicShared);

    /// <summary>The backward's dQ kernel.</summary>
    public static MethodInfo PortableBackwardQuery(Type storageType, int dimPadded, int br, int bc, bool dynamicShared = true) =>
        Backward(typeof(BackwardQueryKernel), storageType, dimPadded, br, bc, dynamicShared);

    private static MethodInfo Backward(Type kernel, Type storageType, int dimPadded, int br, int bc, bool dynamicShared) =>
        kernel.GetMethod("Run")!.MakeGenericMethod(
            storageType, ElementOps[storageType], VectorElements[storageType], SharedTiles(dynamicShared),
            Constants.TypeOf(dimPadded), Constants.TypeOf(br), Constants.TypeOf(bc));

    /// <summary>Vector unpackers per storage type, for the 16-byte loads of the decode kernels, the v4 forward and the backward.</summary>
    private static readonly Dictionary<Type, Type> VectorElements = new()
    {
        [typeof(float)] = typeof(Float32Vector),
        [typeof(Half)] = typeof(Float16Vector),
        [typeof(BFloat16)] = typeof(BFloat16Vector),
        [typeof(ushort)] = typeof(Float16BitsVector),
    };

    /// <summary>The split-KV decode kernel for one storage type, compiled head dim, key tile and query rows per group (4, 8 or 16).</summary>
    public static MethodInfo Decode(Type storageType, int dimPadded, int bc, int rows, bool dynamicShared = true) =>
        typeof(DecodeKernel).GetMethod(nameof(DecodeKernel.Run))!.MakeGenericMethod(
            storageType, ElementOps[storageType], VectorElements[storageType],
            SharedTiles(dynamicShared), Constants.TypeOf(dimPadded), Constants.TypeOf(bc),
            Constants.TypeOf(rows));

    /// <summary>
    /// The streaming decode kernel for one 16-bit storage type, head dim (32, 64, 128 or 256) and query rows per group (1, 2, 4 or 8);
    /// <paramref name="nativePtx"/> on CUDA (the L2 prefetch); <paramref name="transposed"/>: the transposed team sums
    /// (<see cref="DecodeTransposedScores{TTarget}"/>), only where <see cref="DecodeStreamKernel.SupportsTransposedScores"/>.
    /// </summary>
    public static MethodInfo DecodeStream(Type storageType, int dim, int rows, bool dynamicShared = true, bool nativePtx = false, bool ring = false,
        bool transposed = false)
    {
        if (transposed && !DecodeStreamKernel.SupportsTransposedScores(dim, rows))
            throw new ArgumentException($"the transposed team sums need head dim 128, 4 rows a lane and 2 keys a step; got d {dim}, {rows} rows", nameof(transposed));
        return typeof(DecodeStreamKernel).GetMethod(nameof(DecodeStreamKernel.Run))!.MakeGenericMethod(
            Target(nativePtx), storageType, ElementOps[storageType], VectorElements[storageType],
            SharedTiles(dynamicShared), Constants.TypeOf(dim), Constants.TypeOf(rows),
            Constants.TypeOf(DecodeStreamKernel.Unroll(rows)), ring ? typeof(C4) : typeof(C0), transposed ? typeof(C1) : typeof(C0));
    }

    /// <summary>The in-place cache append for one storage type.</summary>
    public static MethodInfo KvAppend(Type storageType) =>
        typeof(KvAppendKernel).GetMethod(nameof(KvAppendKernel.Run))!.MakeGenericMethod(storageType);

    /// <summary>The merge of N partial (O_i, LSE_i) into O, LSE, for one output storage type.</summary>
    public static MethodInfo PartialMerge(Type storageType) =>
        typeof(PartialMergeKernel).GetMethod(nameof(PartialMergeKernel.Merge))!.MakeGenericMethod(storageType, ElementOps[storageType]);

    /// <summary>The in-place fold of one partial (O_i, LSE_i) into a running float32 (O, LSE).</summary>
    public static MethodInfo PartialFold { get; } = typeof(PartialMergeKernel).GetMethod(nameof(PartialMergeKernel.Fold))!;

    /// <summary>The widening of stored elements into float32 (ring attention's partials), for one storage type.</summary>
    public static MethodInfo Widen(Type storageType) =>
        typeof(WidenKernel).GetMethod(nameof(WidenKernel.Run))!.MakeGenericMethod(storageType, ElementOps[storageType]);

    /// <summary>The copy of a tensor between layouts (and element types) for one source and one target storage type.</summary>
    public static MethodInfo TensorCopy(Type sourceType, Type targetType) =>
        typeof(TensorCopyKernel).GetMethod(nameof(TensorCopyKernel.Run))!.MakeGenericMethod(
            sourceType, ElementOps[sourceType], targetType, ElementOps[targetType]);
}
