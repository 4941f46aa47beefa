using System.CommandLine;
using FlashAttention.Kernels.Launch;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime.Cuda;

namespace FlashAttention.Bench;

/// <summary>
/// `dump-ptx`: compiles the shipped kernel specialisations offline (no GPU needed) and writes their
/// PTX, so `ptxas -v` and `cuobjdump -sass` can check registers, spills and instructions.
/// </summary>
public static class DumpPtxCommand
{
    /// <summary>
    /// The tensor-core kernels' score modes, by file-name suffix (KernelCatalog.TensorCoreForward's flags). "_bias16s" (a float16
    /// bias staged through shared memory by cp.async) and "_bitss" (packed-mask words so staged) exist on the wgmma kernels only;
    /// "_seed" marks a mode whose product starts from its mask or bias (SeededScores), which the pipelined kernel never takes.
    /// </summary>
    private static readonly (string Mode, bool Pointwise, bool Tensors, bool Dropout, bool Bits, bool BiasOnly, bool HalfBias, bool Staged, bool Seeded)[] ScoreModes =
    [
        ("", false, false, false, false, false, false, false, false), ("_scores", true, false, false, false, false, false, false, false),
        ("_tensors", true, true, false, false, false, false, false, false), ("_dropout", true, true, true, false, false, false, false, false),
        ("_bits", false, false, false, true, false, false, false, false), ("_bias", false, false, false, false, true, false, false, false),
        ("_bias16", false, false, false, false, true, true, false, false), ("_bias16s", false, false, false, false, true, true, true, false),
        ("_bitss", false, false, false, true, false, false, true, false), ("_bits_seed", false, false, false, true, false, false, false, true),
        ("_bitss_seed", false, false, false, true, false, false, true, true), ("_bias16s_seed", false, false, false, false, true, true, true, true),
    ];

    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var outDir = new Option<DirectoryInfo>("--out") { Description = "Folder for the .ptx files.", Required = true };
        var only = new Option<string>("--only") { Description = "Which kernels: all, portable, tc (tensor-core) or decode.", DefaultValueFactory = _ => "all" };
        var match = new Option<string?>("--match") { Description = "Only kernels whose file name matches this regular expression, e.g. 'f16_d128'." };
        var command = new Command("dump-ptx", "Write the PTX of every default kernel specialisation (sm_90) for ptxas -v / cuobjdump.") { outDir, only, match };
        command.SetAction(parse =>
        {
            var dir = parse.GetValue(outDir)!;
            dir.Create();
            using var context = Context.Create(b => b.EnableAlgorithms().Optimize(OptimizationLevel.O2));
            var arch = CudaArchitecture.SM_90;
            using var backend = new PTXBackend(context, new CudaCapabilityContext(arch), arch, CudaInstructionSet.ISA_80, null);
            string which = parse.GetValue(only)!;
            var filter = parse.GetValue(match) is { } pattern ? new System.Text.RegularExpressions.Regex(pattern) : null;
            void Write(string name, System.Reflection.MethodInfo method, bool promoteAsmOperands = false, KernelSpecialization? bounds = null)
            {
                if (filter is null || filter.IsMatch(name))
                    WritePtx(backend, dir, name, method, promoteAsmOperands, bounds ?? KernelSpecialization.Empty);
            }
            if (which is "all" or "tc")
            {
                foreach (bool bf16 in new[] { false, true })
                foreach (int dim in TileConfig.CompiledHeadDims)
                foreach (int warps in TensorCoreTile.SupportedWarps)
                foreach (int rows in TensorCoreTile.SupportedWarpRows)
                foreach (int bc in TensorCoreTile.SupportedBc)
                foreach (var (mode, pointwise, tensors, dropout, bits, biasOnly, halfBias, _, seeded) in ScoreModes.Where(m => !m.Staged))
                    Write($"tc_fwd_{(bf16 ? "bf16" : "f16")}_d{dim}_w{warps}{(rows == 16 ? "" : $"x{rows}")}{(bc == 64 ? "" : $"b{bc}")}{mode}",
                        KernelCatalog.TensorCoreForward(nativePtx: true, bf16, dim, warps, rows, bc, pointwise, tensors, dropout, bits, biasOnly: biasOnly,
                            halfBias: halfBias, seeded: seeded), promoteAsmOperands: true);
                // Hopper (sm_90a): 16-row warps, 64-key tiles, head dims a multiple of 64.
                foreach (bool bf16 in new[] { false, true })
                foreach (int dim in new[] { 64, 128, 192, 256 })
                foreach (int warps in TensorCoreTile.SupportedWarps.Append(12))
                foreach (var (mode, pointwise, tensors, dropout, bits, biasOnly, halfBias, staged, seeded) in ScoreModes)
                {
                    var method = KernelCatalog.TensorCoreForward(nativePtx: true, bf16, dim, warps, 16, 64, pointwise, tensors, dropout, bits, wgmma: true, biasOnly,
                        halfBias, stagedBias: staged && !bits, stagedMask: staged && bits, seeded: seeded);
                    // The pipelined kernel (FlashAttention-3's overlap of the softmax with P V), written with the same bounds.
                    var pipelined = KernelCatalog.TensorCoreForward(nativePtx: true, bf16, dim, warps, 16, 64, pointwise, tensors, dropout, bits, wgmma: true, biasOnly,
                        halfBias, pipelined: true, stagedBias: staged && !bits, stagedMask: staged && bits);
                    if (warps == 12)
                    {
                        // Three warpgroups (384 threads) only load bounded to one group per SM.
                        Write($"wg_fwd_{(bf16 ? "bf16" : "f16")}_d{dim}_w12@1{mode}", method, promoteAsmOperands: true, new KernelSpecialization(384, 1));
                        if (!seeded)
                            Write($"wgp_fwd_{(bf16 ? "bf16" : "f16")}_d{dim}_w12@1{mode}", pipelined, promoteAsmOperands: true, new KernelSpecialization(384, 1));
                        continue;
                    }
                    Write($"wg_fwd_{(bf16 ? "bf16" : "f16")}_d{dim}_w{warps}{mode}", method, promoteAsmOperands: true);
                    // With launch bounds for two groups per SM where two fit on an H100, as the default loads the plain, score and
                    // packed-mask kernels (the bias and dropout ones run unbounded; their bounded form is written to compare).
                    var tile = new TensorCoreTile(warps, Wgmma: true);
                    if (tile.TwoGroupsFit(dim, DeviceLimits.CpuSharedMemoryPerGroup))
                        Write($"wg_fwd_{(bf16 ? "bf16" : "f16")}_d{dim}_w{warps}@2{mode}", method, promoteAsmOperands: true, new KernelSpecialization(tile.Threads, 2));
                    if (seeded)
                        continue; // the pipelined kernel never seeds S
                    Write($"wgp_fwd_{(bf16 ? "bf16" : "f16")}_d{dim}_w{warps}{mode}", pipelined, promoteAsmOperands: true);
                    if (tile.TwoGroupsFit(dim, DeviceLimits.CpuSharedMemoryPerGroup))
                        Write($"wgp_fwd_{(bf16 ? "bf16" : "f16")}_d{dim}_w{warps}@2{mode}", pipelined, promoteAsmOperands: true, new KernelSpecialization(tile.Threads, 2));
                }
            }
            if (which is "all" or "portable")
            foreach (var (name, type) in new[] { ("f16", typeof(Half)), ("bf16", typeof(BFloat16)), ("f32", typeof(float)) })
            foreach (int dim in TileConfig.CompiledHeadDims)
            {
                var fwd = TileConfig.Choose(dim, DeviceLimits.CpuSharedMemoryPerGroup);
                var bwd = TileConfig.ChooseBackward(dim, DeviceLimits.CpuSharedMemoryPerGroup);
                Write($"fwd_{name}_d{dim}_{fwd.Br}x{fwd.Bc}{(fwd.Variant == FlashAttention.Kernels.Portable.ForwardVariant.V4 ? "_v4" : "")}", KernelCatalog.PortableForward(type, dim, fwd.Br, fwd.Bc, variant: fwd.Variant));
                Write($"bwd_kv_{name}_d{dim}_{bwd.Br}x{bwd.Bc}", KernelCatalog.PortableBackwardKeyValue(type, dim, bwd.Br, bwd.Bc));
                Write($"bwd_q_{name}_d{dim}_{bwd.Br}x{bwd.Bc}", KernelCatalog.PortableBackwardQuery(type, dim, bwd.Br, bwd.Bc));
            }
            if (which is "all" or "decode")
            {
                foreach (var (name, type) in new[] { ("f16", typeof(Half)), ("bf16", typeof(BFloat16)), ("f32", typeof(float)) })
                {
                    foreach (int dim in TileConfig.CompiledHeadDims)
                    foreach (int rows in Kernels.Portable.DecodeLayout.SupportedRows)
                        Write($"decode_{name}_d{dim}_r{rows}", KernelCatalog.Decode(type, dim, Kernels.Portable.DecodeLayout.TileKeys(dim, rows), rows));
                    if (type != typeof(float))
                    foreach (int dim in TileConfig.CompiledHeadDims.Where(Kernels.Portable.DecodeStreamKernel.SupportsDim))
                    foreach (int rows in Kernels.Portable.DecodeStreamKernel.SupportedRows)
                    foreach (bool ring in new[] { false, true })
                    foreach (bool transposed in new[] { false, true }.Where(t => !t || Kernels.Portable.DecodeStreamKernel.SupportsTransposedScores(dim, rows)))
                        Write($"decode_stream_{name}_d{dim}_r{rows}{(ring ? "_ring" : "")}{(transposed ? "_tr" : "")}",
                            KernelCatalog.DecodeStream(type, dim, rows, nativePtx: true, ring: ring, transposed: transposed),
                            promoteAsmOperands: true, new KernelSpecialization(Kernels.Portable.DecodeStreamKernel.Threads,
                                Kernels.Portable.DecodeStreamKernel.GroupsPerMultiprocessor(rows))); // the launch bounds DecodeLauncher loads it with
                    Write($"merge_{name}", KernelCatalog.PartialMerge(type));
                    Write($"append_{name}", KernelCatalog.KvAppend(type));
                }
                Write("fold", KernelCatalog.PartialFold);
            }
            Console.WriteLine($"wrote {dir.GetFiles("*.ptx").Length} PTX files to {dir.FullName}");
            return 0;
        });
        return command;
    }

    private static void WritePtx(PTXBackend backend, DirectoryInfo dir, string name, System.Reflection.MethodInfo method, bool promoteAsmOperands,
        KernelSpecialization bounds)
    {
        var kernel = (PTXCompiledKernel)backend.Compile(EntryPointDescription.FromExplicitlyGroupedKernel(method), bounds);
        // The tensor-core kernels load through the same rewrite (KernelCache), so that is the PTX ptxas should judge.
        if (promoteAsmOperands)
        {
            PtxOperandPromotion.Apply(kernel);
            PtxTarget.ForWgmma(kernel);
        }
        File.WriteAllText(Path.Combine(dir.FullName, name + ".ptx"), kernel.PTXAssembly);
    }
}
