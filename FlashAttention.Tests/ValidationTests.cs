using FlashAttention.Tests.Support;

namespace FlashAttention.Tests;

/// <summary>Bad input raises a clear exception naming the argument and the expected value, and writes nothing.</summary>
public class ValidationTests
{
    private const float Sentinel = 7f;

    private static HostTensor<float> Tensor(int b, int n, int h, int d) =>
        HostTensor<float>.Bshd(new RandomTensors(b * 1000 + n * 10 + h + d).Array<float>((long)b * n * h * d), b, n, h, d);

    /// <summary>Calls the host API into a sentinel-filled output and checks the exception and that nothing was written.</summary>
    private static void Rejects(HostTensor<float> q, HostTensor<float> k, HostTensor<float> v, string param, string expectedText,
        HostTensor<float>? output = null, float[]? lse = null, AttentionOptions? options = null, AttentionEngine? engine = null)
    {
        output ??= new HostTensor<float>(new float[q.Data.Length], q.Layout);
        Array.Fill(output.Data, Sentinel);
        if (lse is not null) Array.Fill(lse, Sentinel);

        var act = () => (engine ?? TestDevice.Engine).Forward(q, k, v, output, lse, options);

        act.Should().Throw<ArgumentException>().Where(e => e.ParamName == param && e.Message.Contains(expectedText),
            $"the message should name '{param}' and say '{expectedText}'");
        output.Data.Should().OnlyContain(x => x == Sentinel, "nothing is written on invalid input");
        lse?.Should().OnlyContain(x => x == Sentinel);
    }

    [Fact]
    public void Head_dim_of_k_differs() =>
        Rejects(Tensor(1, 8, 2, 64), Tensor(1, 8, 2, 32), Tensor(1, 8, 2, 64), "k", "head dim is 32; expected 64");

    [Fact]
    public void Seqlen_of_v_differs_from_k() =>
        Rejects(Tensor(1, 8, 2, 32), Tensor(1, 9, 2, 32), Tensor(1, 10, 2, 32), "v", "seqlen is 10; expected 9");

    [Fact]
    public void Batch_differs() =>
        Rejects(Tensor(2, 8, 2, 32), Tensor(1, 8, 2, 32), Tensor(1, 8, 2, 32), "k", "batch is 1; expected 2");

    [Fact]
    public void Head_dim_above_256_is_unsupported() =>
        Rejects(Tensor(1, 2, 1, 264), Tensor(1, 2, 1, 264), Tensor(1, 2, 1, 264), "q", "head dim is 264; expected 1 to 256");

    [Fact]
    public void Query_heads_not_a_multiple_of_kv_heads() =>
        Rejects(Tensor(1, 8, 6, 32), Tensor(1, 8, 4, 32), Tensor(1, 8, 4, 32), "k", "expected a divisor of q's heads (6)");

    [Theory]
    [InlineData(0, 8, 2, 32, "batch is 0; expected at least 1")]
    [InlineData(1, 0, 2, 32, "seqlen is 0; expected at least 1")]
    [InlineData(1, 8, 0, 32, "heads is 0; expected at least 1")]
    [InlineData(1, 8, 2, 0, "head dim is 0; expected at least 1")]
    public void Zero_sized_dimension(int b, int n, int h, int d, string text) =>
        Rejects(HostTensor<float>.Bshd([], b, n, h, d), Tensor(1, 8, 2, 32), Tensor(1, 8, 2, 32), "q", text,
            output: new HostTensor<float>(new float[16], TensorLayout.Bshd(b, n, h, d)));

    [Fact]
    public void Output_shape_differs() =>
        Rejects(Tensor(1, 8, 2, 32), Tensor(1, 8, 2, 32), Tensor(1, 8, 2, 32), "output", "shape is [1, 7, 2, 32]; expected q's shape [1, 8, 2, 32]",
            output: HostTensor<float>.Bshd(new float[7 * 2 * 32], 1, 7, 2, 32));

    [Fact]
    public void Lse_of_wrong_length() =>
        Rejects(Tensor(1, 8, 2, 32), Tensor(1, 8, 2, 32), Tensor(1, 8, 2, 32), "lse", "length is 15; expected batch * heads_q * seqlen_q = 16",
            lse: new float[15]);

    [Fact]
    public void Buffer_shorter_than_its_layout() =>
        Rejects(HostTensor<float>.Bshd(new float[100], 1, 8, 2, 32), Tensor(1, 8, 2, 32), Tensor(1, 8, 2, 32), "q",
            "buffer holds 100 elements; expected at least 512");

    /// <summary>The CPU accelerator is held to an H100's limit (227 KB), so this tile fails there as it would on the GPU.</summary>
    [Fact]
    public void Tile_over_the_shared_memory_limit()
    {
        using var cpu = AttentionEngine.Create(AcceleratorChoice.Cpu);
        Rejects(Tensor(1, 8, 1, 256), Tensor(1, 8, 1, 256), Tensor(1, 8, 1, 256), "options",
            "needs 339456 bytes of shared memory at head dim 256; expected at most 232448",
            options: new AttentionOptions { Tile = new TileConfig(128, 128, 1024) }, engine: cpu);
    }

    [Fact]
    public void Forward_tile_with_the_wrong_thread_count() =>
        Rejects(Tensor(1, 8, 1, 40), Tensor(1, 8, 1, 40), Tensor(1, 8, 1, 40), "options",
            "tile Threads is 128; expected Br x padded head dim / 32 = 64 for the forward",
            options: new AttentionOptions { Tile = new TileConfig(32, 32, 128) });

    [Fact]
    public void Default_tiles_fit_a_48_KB_device()
    {
        foreach (int dim in new[] { 32, 64, 100, 128, 256 })
            TileConfig.Choose(dim, 48 * 1024).SharedMemoryBytes(dim).Should().BeLessThanOrEqualTo(48 * 1024, $"head dim {dim}");
    }

    [Fact]
    public void Tile_size_without_a_compiled_kernel() =>
        Rejects(Tensor(1, 8, 1, 32), Tensor(1, 8, 1, 32), Tensor(1, 8, 1, 32), "options", "tile Br is 48; expected one of 8, 16, 32, 64, 128",
            options: new AttentionOptions { Tile = new TileConfig(48, 32, 128) });

    [Fact]
    public void Non_finite_scale() =>
        Rejects(Tensor(1, 8, 1, 32), Tensor(1, 8, 1, 32), Tensor(1, 8, 1, 32), "options", "Scale is NaN; expected a finite number",
            options: new AttentionOptions { Scale = float.NaN });

    [Theory]
    [InlineData(-2, 0, "Window.Left is -2; expected -1 (unbounded) or a number of keys >= 0")]
    [InlineData(4, -7, "Window.Right is -7; expected -1 (unbounded) or a number of keys >= 0")]
    public void Window_side_below_minus_one(int left, int right, string text) =>
        Rejects(Tensor(1, 8, 2, 32), Tensor(1, 8, 2, 32), Tensor(1, 8, 2, 32), "options", text,
            options: new AttentionOptions { Window = new(left, right) });

    [Fact]
    public void Alibi_slopes_of_the_wrong_length() =>
        Rejects(Tensor(2, 8, 4, 32), Tensor(2, 8, 2, 32), Tensor(2, 8, 2, 32), "options",
            "AlibiSlopes has 3 elements; expected heads_q = 4 (float32 [heads_q]) or batch * heads_q = 8 (float32 [batch, heads_q] = [2, 4])",
            options: new AttentionOptions { AlibiSlopes = [0.5f, 0.25f, 0.125f] });

    [Theory]
    [InlineData(float.NaN, "AlibiSlopes[1] is NaN; expected a finite number")]
    [InlineData(float.PositiveInfinity, "AlibiSlopes[1] is Infinity; expected a finite number")]
    public void Alibi_slope_not_finite(float slope, string text) =>
        Rejects(Tensor(1, 8, 2, 32), Tensor(1, 8, 2, 32), Tensor(1, 8, 2, 32), "options", text,
            options: new AttentionOptions { AlibiSlopes = [0.5f, slope] });

    [Theory]
    [InlineData(float.NaN, "Softcap is NaN; expected 0 (off) or a finite number > 0")]
    [InlineData(-1f, "Softcap is -1; expected 0 (off) or a finite number > 0")]
    [InlineData(float.PositiveInfinity, "Softcap is Infinity; expected 0 (off) or a finite number > 0")]
    public void Softcap_negative_or_not_finite(float softcap, string text) =>
        Rejects(Tensor(1, 8, 2, 32), Tensor(1, 8, 2, 32), Tensor(1, 8, 2, 32), "options", text,
            options: new AttentionOptions { Softcap = softcap });

    [Fact]
    public void Unsupported_element_type_is_refused()
    {
        var q = HostTensor<double>.Bshd(new double[32], 1, 1, 1, 32);
        var act = () => TestDevice.Engine.Forward(q, q, q);
        act.Should().Throw<NotSupportedException>().WithMessage("*Double*expected float, ILGPU.Half or FlashAttention.BFloat16*");
    }

    [Fact]
    public void Disposed_engine_refuses_work()
    {
        var engine = AttentionEngine.Create(AcceleratorChoice.Cpu);
        engine.Dispose();
        var q = Tensor(1, 4, 1, 32);
        var output = HostTensor<float>.Bshd(Enumerable.Repeat(Sentinel, 128).ToArray(), 1, 4, 1, 32);
        var act = () => engine.Forward(q, q, q, output, null);
        act.Should().Throw<ObjectDisposedException>().WithMessage($"*{nameof(AttentionEngine)}*");
        output.Data.Should().OnlyContain(x => x == Sentinel);
    }

    [Fact]
    public void Device_api_checks_views_before_launching()
    {
        var accelerator = TestDevice.Engine.Accelerator;
        using var small = accelerator.Allocate1D<float>(10);
        using var output = accelerator.Allocate1D(Enumerable.Repeat(Sentinel, 64).ToArray());
        var t = DeviceTensor<float>.Bshd(small.View, 1, 2, 1, 32);
        var o = DeviceTensor<float>.Bshd(output.View, 1, 2, 1, 32);
        var act = () => TestDevice.Engine.Forward(t, t, t, o, default);
        act.Should().Throw<ArgumentException>().Where(e => e.ParamName == "q" && e.Message.Contains("expected at least 64"));
        output.GetAsArray1D().Should().OnlyContain(x => x == Sentinel);
    }
}
