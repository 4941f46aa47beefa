using FlashAttention.Kernels.Portable;
using FlashAttention.Tests.Support;

namespace FlashAttention.Tests;

/// <summary>
/// The dropout mask itself: Philox-4x32-10 against the published known-answer vectors, the dropped
/// fraction of the host draw, the kernels drawing exactly the host's Z (read back through one-hot V
/// rows), the LSE left undropped, and (seed, offset) determinism.
/// </summary>
public class DropoutMaskTests
{
    /// <summary>Known-answer vectors of Random123 (kat_vectors, philox4x32 with 10 rounds).</summary>
    [Theory]
    [InlineData(0u, 0u, 0u, 0u, 0u, 0u, 0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u)]
    [InlineData(0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu)]
    [InlineData(0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u, 0xa4093822u, 0x299f31d0u, 0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u)]
    public void Philox_matches_known_answers(uint c0, uint c1, uint c2, uint c3, uint k0, uint k1, uint x0, uint x1, uint x2, uint x3)
    {
        var w = Philox.Generate(c0, c1, c2, c3, k0, k1);
        new[] { w.X0, w.X1, w.X2, w.X3 }.Should().Equal(x0, x1, x2, x3);
    }

    /// <summary>Over 1 x 2 x 256 x 256 = 131072 draws the dropped fraction is within 0.01 of p.</summary>
    [Theory]
    [InlineData(0.1f, 1UL, 0UL)]
    [InlineData(0.5f, 2UL, 1000UL)]
    public void Dropped_fraction_is_p(float p, ulong seed, ulong offset)
    {
        var dropout = Dropout.Create(p, seed, offset, headsQ: 2);
        long dropped = 0, total = 0;
        for (int h = 0; h < 2; h++)
        {
            var head = dropout.ForHead(0, h);
            for (int i = 0; i < 256; i++)
            for (int j = 0; j < 256; j++, total++)
                dropped += head.Keeps(i, j) ? 0 : 1;
        }
        ((double)dropped / total).Should().BeApproximately(p, 0.01, $"dropped {dropped} of {total}");
    }

    /// <summary>
    /// With Q = 0 every visible P is 1 / 64, and V's rows are one-hot (V[j] = e_j), so O[i, d] is
    /// Z_id / (1 - p) / 64: the output spells out which keys the kernel kept, compared element by
    /// element (2 x 256 x 64) with the host draw, for both forward variants.
    /// </summary>
    [Theory]
    [InlineData(ForwardVariant.V3, 0.1f, 123UL)]
    [InlineData(ForwardVariant.V4, 0.5f, 456UL)]
    [InlineData(ForwardVariant.V4, 0.1f, 789UL)]
    public void Kernel_draws_the_host_mask(ForwardVariant variant, float p, ulong seed)
    {
        const int nq = 256, nk = 64, heads = 2, dim = 64;
        const ulong offset = 5;
        var q = HostTensor<float>.Zeros(1, nq, heads, dim);
        var k = HostTensor<float>.Zeros(1, nk, heads, dim);
        var v = HostTensor<float>.Zeros(1, nk, heads, dim);
        for (int h = 0; h < heads; h++)
        for (int j = 0; j < nk; j++)
            v.Data[v.Layout.IndexOf(0, j, h, j)] = 1f;
        var engine = TestDevice.Engine;
        var options = new AttentionOptions
        {
            DropoutP = p, DropoutSeed = seed, DropoutOffset = offset, Kernel = KernelPath.Portable,
            Tile = TileConfig.Choose(dim, engine.SharedMemoryLimitBytes, engine.Accelerator.MaxNumThreadsPerGroup, variant),
        };
        var o = engine.Forward(q, k, v, options).Output;

        var dropout = Dropout.Create(p, seed, offset, heads);
        int mismatches = 0, dropped = 0;
        for (int h = 0; h < heads; h++)
        {
            var head = dropout.ForHead(0, h);
            for (int i = 0; i < nq; i++)
            for (int j = 0; j < nk; j++)
            {
                double z = o[0, i, h, j] * nk * (1 - p); // 1 kept, 0 dropped
                bool kernelKeeps = z > 0.5;
                if (kernelKeeps != head.Keeps(i, j) || Math.Abs(z - (kernelKeeps ? 1 : 0)) > 1e-5)
                    mismatches++;
                dropped += kernelKeeps ? 0 : 1;
            }
        }
        mismatches.Should().Be(0);
        ((double)dropped / (heads * nq * nk)).Should().BeApproximately(p, 0.02);
    }

    /// <summary>LSE is that of the undropped scores (FlashAttention-2): bit-identical with and without dropout.</summary>
    [Fact]
    public void Lse_ignores_dropout()
    {
        var rng = new RandomTensors(31);
        var q = rng.Bshd<float>(1, 77, 2, 64);
        var k = rng.Bshd<float>(1, 90, 2, 64);
        var v = rng.Bshd<float>(1, 90, 2, 64);
        var plain = new AttentionOptions { ReturnLse = true, Kernel = KernelPath.Portable };
        var off = TestDevice.Engine.Forward(q, k, v, plain);
        var on = TestDevice.Engine.Forward(q, k, v, plain with { DropoutP = 0.4f, DropoutSeed = 8 });
        on.Lse.Should().Equal(off.Lse);
        on.Output.Data.Should().NotEqual(off.Output.Data);
    }

    /// <summary>The same (seed, offset) gives the same bits run to run; another seed or offset gives another output.</summary>
    [Fact]
    public void Seed_and_offset_determine_the_output()
    {
        var rng = new RandomTensors(32);
        var q = rng.Bshd<float>(1, 65, 2, 40);
        var k = rng.Bshd<float>(1, 70, 1, 40);
        var v = rng.Bshd<float>(1, 70, 1, 40);
        var dOut = rng.Bshd<float>(1, 65, 2, 40);
        var options = new AttentionOptions { DropoutP = 0.3f, DropoutSeed = 1234, DropoutOffset = 6, ReturnLse = true, Kernel = KernelPath.Portable };
        var engine = TestDevice.Engine;

        var first = engine.Forward(q, k, v, options);
        var second = engine.Forward(q, k, v, options);
        second.Output.Data.Should().Equal(first.Output.Data);
        engine.Forward(q, k, v, options with { DropoutSeed = 1235 }).Output.Data.Should().NotEqual(first.Output.Data);
        engine.Forward(q, k, v, options with { DropoutOffset = 7 }).Output.Data.Should().NotEqual(first.Output.Data);

        float[] Dq()
        {
            var dq = HostTensor<float>.Zeros(1, 65, 2, 40);
            var dk = HostTensor<float>.Zeros(1, 70, 1, 40);
            var dv = HostTensor<float>.Zeros(1, 70, 1, 40);
            engine.Backward(dOut, q, k, v, first.Output, first.Lse!, dq, dk, dv, null, options);
            return [.. dq.Data, .. dk.Data, .. dv.Data];
        }
        Dq().Should().Equal(Dq());
    }
}
