using System.CommandLine;
using FlashAttention.Bench;

var root = new RootCommand("flash: FlashAttention for .NET. Times the kernels on random inputs (demo, bench, decode, ring), runs them on .npy files (verify), dumps their PTX (dump-ptx).")
{
    DemoCommand.Create(),
    VerifyCommand.Create(),
    BenchCommand.Create(),
    DecodeBenchCommand.Create(),
    RingBenchCommand.Create(),
    DumpPtxCommand.Create(),
};
return root.Parse(args).Invoke();
