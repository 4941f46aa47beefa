using FlashAttention.Kernels.Numerics;

namespace FlashAttention.Tests;

/// <summary>
/// <see cref="LazyRescale"/>: m moves only when a block passes it by more than the threshold, and the threshold keeps
/// p = exp2(s - m) inside fp16 and bf16, which carry P into the P V products of the tensor-core forwards.
/// </summary>
public class LazyRescaleTests
{
    [Fact]
    public void The_threshold_keeps_p_inside_fp16()
    {
        // p < 2^threshold while m stays; fp16's largest finite value is 65504 < 2^16.
        LazyRescale.Threshold.Should().BeInRange(0f, 15f);
        MathF.Pow(2f, LazyRescale.Threshold).Should().BeLessThan((float)Half.MaxValue);
    }

    [Fact]
    public void M_moves_only_past_the_threshold()
    {
        float t = LazyRescale.Threshold;
        LazyRescale.Next(float.NegativeInfinity, -3f).Should().Be(-3f, "the first visible block sets m");
        LazyRescale.Next(float.NegativeInfinity, float.NegativeInfinity).Should().Be(float.NegativeInfinity, "a hidden block leaves m at -inf");
        LazyRescale.Next(5f, 5f + t).Should().Be(5f, "a block up to the threshold above m keeps it");
        LazyRescale.Next(5f, 4f).Should().Be(5f);
        LazyRescale.Next(5f, 5f + t + 0.5f).Should().Be(5f + t + 0.5f, "past the threshold m takes the block's max");
    }
}
