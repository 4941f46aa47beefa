using System.Reflection;
using FlashAttention.Kernels.Numerics;
using FlashAttention.Kernels.Portable;

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
    };

    /// <summary>Whether <paramref name="elementType"/> is a supported storage type.</summary>
    public static bool IsSupportedElement(Type elementType) => ElementOps.ContainsKey(elementType);

    /// <summary>The portable forward kernel for one element type, compiled head dim and tile.</summary>
    public static MethodInfo PortableForward(Type elementType, int dimPadded, int br, int bc) =>
        typeof(ForwardKernel).GetMethod(nameof(ForwardKernel.Run))!.MakeGenericMethod(
            elementType, ElementOps[elementType], Constants.TypeOf(dimPadded), Constants.TypeOf(br), Constants.TypeOf(bc));
}
