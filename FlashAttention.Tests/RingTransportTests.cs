using FlashAttention.Tests.Support;

namespace FlashAttention.Tests;

/// <summary>
/// The two ring transports: <see cref="PeerCopyTransport"/> (device to device) and <see cref="HostStagedTransport"/> (through host
/// memory), between the tests' CPU accelerators. Each copies exactly the source's elements into the target's, leaves the rest of
/// the target alone, refuses a length mismatch before writing anything, and the ring gives the same bits through either.
/// </summary>
public class RingTransportTests
{
    public static TheoryData<string> Transports() => [nameof(PeerCopyTransport), nameof(HostStagedTransport)];

    private static IRingTransport Named(string name) =>
        name == nameof(PeerCopyTransport) ? PeerCopyTransport.Instance : HostStagedTransport.Instance;

    [Theory]
    [MemberData(nameof(Transports))]
    public void Copies_a_sub_view_exactly_and_nothing_else(string name)
    {
        var (from, to) = (RingEngines.Take(2)[0].Accelerator, RingEngines.Take(2)[1].Accelerator);
        var data = new RandomTensors(21).Array<float>(300);
        using var source = from.Allocate1D(data);
        using var target = to.Allocate1D(Enumerable.Repeat(float.NaN, 300).ToArray());
        using var sourceStream = from.CreateStream();
        using var targetStream = to.CreateStream();

        Named(name).Copy<float>(source.View.SubView(17, 200), sourceStream, target.View.SubView(50, 200), targetStream);

        var result = target.GetAsArray1D();
        for (int i = 0; i < 300; i++)
        {
            if (i is >= 50 and < 250)
                result[i].Should().Be(data[i - 50 + 17], $"element {i} of the target ({name})");
            else
                float.IsNaN(result[i]).Should().BeTrue($"element {i} lies outside the copied range ({name})");
        }
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public void Refuses_a_length_mismatch_and_writes_nothing(string name)
    {
        var (from, to) = (RingEngines.Take(2)[0].Accelerator, RingEngines.Take(2)[1].Accelerator);
        using var source = from.Allocate1D(new RandomTensors(22).Array<float>(64));
        using var target = to.Allocate1D(Enumerable.Repeat(float.NaN, 64).ToArray());
        using var sourceStream = from.CreateStream();
        using var targetStream = to.CreateStream();

        var act = () => Named(name).Copy<float>(source.View.SubView(0, 64), sourceStream, target.View.SubView(0, 63), targetStream);

        act.Should().Throw<ArgumentException>().WithParameterName("target").WithMessage("*length is 63; expected the source's 64*");
        target.GetAsArray1D().Should().OnlyContain(x => float.IsNaN(x), $"a refused copy writes nothing ({name})");
    }

    [Fact]
    public void Connects_only_accelerators_of_one_kind_that_copy_directly()
    {
        PeerCopyTransport.Connects(AcceleratorType.Cuda, AcceleratorType.Cuda).Should().BeTrue();
        PeerCopyTransport.Connects(AcceleratorType.CPU, AcceleratorType.CPU).Should().BeTrue();
        PeerCopyTransport.Connects(AcceleratorType.Cuda, AcceleratorType.CPU).Should().BeFalse();
        PeerCopyTransport.Connects(AcceleratorType.CPU, AcceleratorType.Cuda).Should().BeFalse();
        PeerCopyTransport.Connects(AcceleratorType.OpenCL, AcceleratorType.OpenCL).Should().BeFalse();
    }

    [Fact]
    public void A_ring_of_CPU_accelerators_copies_directly_unless_told_otherwise()
    {
        new RingAttention(RingEngines.Take(3)).Transport.Should().BeSameAs(PeerCopyTransport.Instance);
        new RingAttention(RingEngines.Take(3), HostStagedTransport.Instance).Transport.Should().BeSameAs(HostStagedTransport.Instance);
    }

    /// <summary>The transports only move bytes: a causal GQA ring of 3 at an uneven length gives the same bits through either.</summary>
    [Fact]
    public void The_ring_gives_the_same_bits_through_either_transport()
    {
        var rng = new RandomTensors(23);
        var (q, k, v, dOut) = (rng.Bshd<float>(1, 29, 4, 32), rng.Bshd<float>(1, 29, 2, 32), rng.Bshd<float>(1, 29, 2, 32), rng.Bshd<float>(1, 29, 4, 32));
        var options = new AttentionOptions { Causal = true, ReturnLse = true };
        var peer = new RingAttention(RingEngines.Take(3), PeerCopyTransport.Instance);
        var staged = new RingAttention(RingEngines.Take(3), HostStagedTransport.Instance);

        var a = peer.Forward(q, k, v, options);
        var b = staged.Forward(q, k, v, options);
        var ga = peer.Backward(dOut, q, k, v, a.Output, a.Lse!, options);
        var gb = staged.Backward(dOut, q, k, v, b.Output, b.Lse!, options);

        a.Output.Data.Should().Equal(b.Output.Data);
        a.Lse.Should().Equal(b.Lse);
        ga.DQ.Data.Should().Equal(gb.DQ.Data);
        ga.DK.Data.Should().Equal(gb.DK.Data);
        ga.DV.Data.Should().Equal(gb.DV.Data);
        a.Output.Data.Should().OnlyContain(x => float.IsFinite(x));
    }
}
