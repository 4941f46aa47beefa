using ILGPU.Runtime.CPU;

namespace FlashAttention.Tests.Support;

/// <summary>
/// Four CPU accelerators in one process, one engine each, for the ring tests: the ring's devices
/// run at the same time, so each needs an accelerator of its own. One context for all of them.
/// Always the CPU (FLASH_TEST_DEVICE does not apply): a one-GPU machine has no second device.
/// </summary>
public static class RingEngines
{
    private static readonly Lazy<AttentionEngine[]> Shared = new(() =>
    {
        var context = Context.Create(b => b.ForCpuKernels());
        var device = context.Devices.First(d => d.AcceleratorType == AcceleratorType.CPU);
        return [.. Enumerable.Range(0, 4).Select(_ => AttentionEngine.ForAccelerator(device.CreateAccelerator(context)))];
    });

    /// <summary>The first <paramref name="devices"/> engines (at most 4).</summary>
    public static AttentionEngine[] Take(int devices) => Shared.Value[..devices];

    /// <summary>A ring over the first <paramref name="devices"/> engines.</summary>
    public static RingAttention Ring(int devices) => new(Take(devices));
}
