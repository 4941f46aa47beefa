using FlashAttention.Kernels.Launch;
using FlashAttention.Kernels.Portable;

namespace FlashAttention.Tests;

/// <summary>Tile choice and shared-memory budgets of the two portable forward variants.</summary>
public class ForwardVariantTests
{
    private const int H100 = DeviceLimits.CpuSharedMemoryPerGroup;

    [Theory]
    // dim, variant, expected Br, Bc, threads, bytes per group
    [InlineData(64, ForwardVariant.V3, 64, 32, 128, 36096)]
    [InlineData(128, ForwardVariant.V3, 64, 64, 256, 87808)]
    [InlineData(64, ForwardVariant.V4, 64, 32, 128, 36096)]
    [InlineData(128, ForwardVariant.V4, 64, 64, 256, 88320)]
    public void Preferred_tile_and_its_shared_memory(int dim, ForwardVariant variant, int br, int bc, int threads, int bytes)
    {
        var tile = TileConfig.Choose(dim, H100, 1024, variant);
        tile.Should().Be(new TileConfig(br, bc, threads, variant));
        tile.SharedMemoryBytes(dim).Should().Be(bytes);
    }

    /// <summary>Groups per H100 SM by shared memory: d 64 (64 x 32) six; d 128 (64 x 64, measured faster than 64 x 32 since K/V are staged) two.</summary>
    [Theory]
    [InlineData(64, 6)] [InlineData(128, 2)]
    public void V4_groups_per_H100_SM(int dim, int groups)
    {
        int bytes = TileConfig.Choose(dim, H100, 1024, ForwardVariant.V4).SharedMemoryBytes(dim);
        (groups * (bytes + 1024)).Should().BeLessThanOrEqualTo(228 * 1024, "the driver reserves 1 KB per group of an SM's 228 KB");
        ((groups + 1) * (bytes + 1024)).Should().BeGreaterThan(228 * 1024);
    }

    [Theory]
    [InlineData(128, 64, 64, 1)] [InlineData(128, 64, 32, 2)] [InlineData(64, 64, 32, 1)]
    [InlineData(64, 64, 16, 2)] [InlineData(256, 32, 32, 4)] [InlineData(96, 64, 32, 1)] [InlineData(32, 64, 32, 1)]
    public void Score_tile_splits_the_head_dim_when_threads_outnumber_blocks(int dim, int br, int bc, int splits) =>
        ParallelForwardLayout.SplitsFor(dim, br, bc).Should().Be(splits);

    [Theory]
    [InlineData("v3", ForwardVariant.V3, 0, 0)]
    [InlineData("V4", ForwardVariant.V4, 0, 0)]
    [InlineData("v4:64x64", ForwardVariant.V4, 64, 64)]
    [InlineData(" v3:128x32 ", ForwardVariant.V3, 128, 32)]
    public void Override_is_parsed(string value, ForwardVariant variant, int br, int bc)
    {
        var parsed = TileConfig.ParseOverride(value);
        parsed.Should().NotBeNull();
        parsed!.Value.Variant.Should().Be(variant);
        parsed.Value.Tile.Should().Be(br == 0 ? null : (br, bc));
    }

    [Theory]
    [InlineData(null)] [InlineData("")] [InlineData("v5")] [InlineData("v4:64")] [InlineData("v4:ax32")]
    public void Unknown_override_is_ignored(string? value) => TileConfig.ParseOverride(value).Should().BeNull();

    [Fact]
    public void Preferred_override_tile_comes_first_and_an_unfitting_one_falls_back()
    {
        TileConfig.Choose(128, H100, 1024, ForwardVariant.V4, (64, 64)).Should().Be(new TileConfig(64, 64, 256, ForwardVariant.V4));
        TileConfig.Choose(128, 48 * 1024, 1024, ForwardVariant.V4, (64, 64)).Should().Be(new TileConfig(32, 32, 128, ForwardVariant.V4));
    }
}
