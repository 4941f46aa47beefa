using FlashAttention.Tests.Support;

namespace FlashAttention.Tests;

/// <summary>Decoding against a paged cache: pages of 16 and 64 rows in a shuffled block table, NaN in every row no item owns.</summary>
public class DecodePagedTests
{
    private static AttentionEngine Engine => TestDevice.Engine;

    public static TheoryData<string, DecodeCase> Matrix() => new()
    {
        { "float16", new DecodeCase([113, 203], 208, 1, 8, 2, 64, Causal: true, Splits: 1, PageSize: 16) },
        { "bfloat16", new DecodeCase([203, 1, 64], 256, 3, 4, 1, 128, Causal: true, Splits: 3, PageSize: 64) },
        { "float32", new DecodeCase([1], 64, 1, 8, 2, 128, Causal: false, Splits: 0, PageSize: 16) },
        { "float16", new DecodeCase([150, 17], 192, 3, 8, 2, 128, Causal: false, Splits: 3, PageSize: 64, SeqNew: 3) },
        { "bfloat16", new DecodeCase([31, 0], 48, 1, 4, 1, 64, Causal: true, Splits: 0, PageSize: 16, SeqNew: 1) },
        { "float16", new DecodeCase([100, 7], 120, 1, 4, 2, 64, Causal: true, Splits: 3, PageSize: 24, SeqNew: 2) }, // not a power of two: divisions
    };

    [Theory]
    [MemberData(nameof(Matrix))]
    public void Matches_reference(string dtype, DecodeCase c) => DecodeCase.Run(dtype, c, Engine);

    /// <summary>The device form reads the block table from device memory; the append crosses a page boundary (46, 47 | 48).</summary>
    [Fact]
    public void Device_form() => DecodeCase.Run("float16", new DecodeCase([100, 46], 128, 1, 8, 2, 64, Causal: true, Splits: 3, PageSize: 16, SeqNew: 3, DeviceForm: true), Engine);

    /// <summary>A padded head dim (element loads) through pages.</summary>
    [Fact]
    public void Padded_head_dim() => DecodeCase.Run("float32", new DecodeCase([77], 96, 1, 4, 2, 40, Causal: true, Splits: 2, PageSize: 16), Engine);
}
