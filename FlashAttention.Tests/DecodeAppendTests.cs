using FlashAttention.Tests.Support;

namespace FlashAttention.Tests;

/// <summary>
/// k_new/v_new appended in place at cache_seqlens[b] (contiguous cache): the output attends to the
/// appended keys and the cache afterwards is the old cache with exactly those rows written.
/// </summary>
public class DecodeAppendTests
{
    private static AttentionEngine Engine => TestDevice.Engine;

    [Theory]
    [InlineData("float32", 1, 1, false)]
    [InlineData("float16", 3, 3, true)]
    [InlineData("bfloat16", 1, 3, true)]
    public void Appends_and_attends(string dtype, int seqNew, int sq, bool causal) =>
        DecodeCase.Run(dtype, new DecodeCase([113, 0, 200], 203, sq, 8, 2, 64, causal, Splits: 3, SeqNew: seqNew), Engine);

    /// <summary>Appending up to exactly the capacity.</summary>
    [Fact]
    public void Fills_the_cache() => DecodeCase.Run("float16", new DecodeCase([61, 62], 64, 2, 4, 1, 128, Causal: true, Splits: 0, SeqNew: 2), Engine);

    [Fact]
    public void Device_form() => DecodeCase.Run("float32", new DecodeCase([5, 120], 130, 1, 4, 2, 64, Causal: true, Splits: 1, SeqNew: 1, DeviceForm: true), Engine);

    /// <summary>Two decode steps: the second sees the key the first appended (the caller advances cache_seqlens).</summary>
    [Fact]
    public void Steps_accumulate()
    {
        var rng = new RandomTensors(7);
        int d = 64, hkv = 2, hq = 4, cap = 40;
        var k = HostTensor<float>.Bshd(rng.Array<float>(cap * hkv * d), 1, cap, hkv, d);
        var v = HostTensor<float>.Bshd(rng.Array<float>(cap * hkv * d), 1, cap, hkv, d);
        var lens = new[] { 10 };
        var step1 = HostTensor<float>.Bshd(rng.Array<float>(hkv * d), 1, 1, hkv, d);
        var step2 = HostTensor<float>.Bshd(rng.Array<float>(hkv * d), 1, 1, hkv, d);
        var q = rng.Bshd<float>(1, 1, hq, d);
        Engine.Decode(q, new KvCache<float>(k, v, lens), null, step1, step1);
        lens[0]++;
        var second = Engine.Decode(q, new KvCache<float>(k, v, lens), null, step2, step2);
        var third = Engine.Decode(q, new KvCache<float>(k, v, [12]));
        DecodeCase.SameBits(second.Output.Data, third.Output.Data).Should().BeTrue("the cache holds both appended keys");
        k[0, 10, 1, 5].Should().Be(step1[0, 0, 1, 5]);
        k[0, 11, 1, 5].Should().Be(step2[0, 0, 1, 5]);
    }
}
