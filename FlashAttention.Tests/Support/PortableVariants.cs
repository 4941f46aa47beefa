using FlashAttention.Kernels.Portable;

namespace FlashAttention.Tests.Support;

/// <summary>Runs forward cases on both portable forward kernels (v3 and v4), each with its default tile for the test device.</summary>
public static class PortableVariants
{
    /// <summary>Every row twice: forced onto the portable kernel with v3's and with v4's default tile.</summary>
    public static TheoryData<string, ForwardCase> OnBoth(IEnumerable<(string DType, ForwardCase Case)> rows)
    {
        var data = new TheoryData<string, ForwardCase>();
        foreach (var (dtype, c) in rows)
        foreach (var variant in new[] { ForwardVariant.V3, ForwardVariant.V4 })
            data.Add(dtype, c with { Kernel = KernelPath.Portable, Tile = DefaultTile(c.HeadDim, variant) });
        return data;
    }

    /// <summary>The tile <see cref="TileConfig.Choose(int, int, int, ForwardVariant, (int, int)?)"/> picks for the test device.</summary>
    public static TileConfig DefaultTile(int headDim, ForwardVariant variant)
    {
        var engine = TestDevice.Engine;
        return TileConfig.Choose(headDim, engine.SharedMemoryLimitBytes, engine.Accelerator.MaxNumThreadsPerGroup, variant);
    }
}
