using System.CommandLine;
using FlashAttention.IO;

namespace FlashAttention.Bench;

/// <summary>
/// <c>verify</c>: runs the forward pass on q, k, v from .npy files and writes o.npy and lse.npy, so
/// another implementation (e.g. PyTorch) can compare. Inputs are checked in full before anything
/// is created, so a bad input leaves the output directory untouched.
/// </summary>
public static class VerifyCommand
{
    /// <summary>Exit code for unusable inputs or a failed run.</summary>
    public const int Failed = 1;


    /// <summary>The command-line form, wired to <see cref="Run"/>.</summary>
    /// <param name="stdout">Where the summary goes; null for the console.</param>
    /// <param name="stderr">Where errors go; null for the console.</param>
    public static Command Create(TextWriter? stdout = null, TextWriter? stderr = null)
    {
        var q = PathOption("--q", "Q.npy", "q, [batch, seqlen_q, heads_q, headdim], float32 or float16 (uint16 bfloat16 bits with --bf16).");
        var k = PathOption("--k", "K.npy", "k, [batch, seqlen_k, heads_kv, headdim]; heads_q must be a multiple of heads_kv.");
        var v = PathOption("--v", "V.npy", "v, the shape of k.");
        var outDir = PathOption("--out", "DIR", "Directory for o.npy (q's dtype) and lse.npy (float32 [batch, heads_q, seqlen_q]); created if absent.");
        var dout = new Option<string?>("--do") { Description = "dO, the gradient of the loss with respect to the output (q's shape and dtype): also writes dq.npy, dk.npy, dv.npy.", HelpName = "DO.npy" };
        var causal = new Option<bool>("--causal") { Description = "Causal mask, aligned to the bottom-right corner." };
        var scale = new Option<float?>("--scale") { Description = "Softmax scale; default 1/sqrt(headdim).", HelpName = "S" };
        var window = new Option<int[]?>("--window")
        {
            Description = "Sliding-window attention: query i sees keys i + seqlen_k - seqlen_q - LEFT .. + RIGHT; -1 leaves a side unbounded (FlashAttention-2's window_size).",
            HelpName = "LEFT RIGHT",
            Arity = new ArgumentArity(2, 2),
            AllowMultipleArgumentsPerToken = true,
        };
        var softcap = new Option<float?>("--softcap") { Description = "Logit soft cap: scores become C * tanh(scores / C) after the scale.", HelpName = "C" };
        var alibi = new Option<string?>("--alibi")
        {
            Description = "ALiBi slopes, float32 [heads_q] or [batch, heads_q]: adds -slope * |i + seqlen_k - seqlen_q - j| to the scores.",
            HelpName = "SLOPES.npy",
        };
        var bias = new Option<string?>("--bias")
        {
            Description = "Additive bias, float32 or float16 [batch|1, heads_q|1, seqlen_q, seqlen_k], added to the scaled scores (torch SDPA's float attn_mask); -inf hides a pair. With --do also writes dbias.npy (float32).",
            HelpName = "BIAS.npy",
        };
        var mask = new Option<string?>("--mask")
        {
            Description = "Boolean keep-mask, numpy bool [batch|1, heads_q|1, seqlen_q, seqlen_k]: false hides the pair (torch SDPA's boolean attn_mask); fully hidden rows give 0 and LSE -inf.",
            HelpName = "MASK.npy",
        };
        var dropout = new Option<float?>("--dropout")
        {
            Description = "Dropout probability on the attention probabilities, in [0, 1): O = (P * Z / (1 - p)) V with Z drawn by Philox-4x32-10 from --seed and --offset (the backward with --do uses the same Z); lse.npy stays that of the undropped scores.",
            HelpName = "P",
        };
        var seed = new Option<ulong>("--seed") { Description = "Philox seed of the dropout mask (default 0).", HelpName = "S" };
        var offset = new Option<ulong>("--offset") { Description = "Philox counter offset of the dropout mask (default 0).", HelpName = "N" };
        var cuSeqLensQ = new Option<string?>("--cu-seqlens-q")
        {
            Description = "Variable-length batch (with --cu-seqlens-k): int32 [batch + 1] cumulative query offsets (0, ..., total_q); q, k, v and --do are then packed [total_tokens, heads, headdim], and o.npy / dq.npy ... are written packed the same way, lse.npy as float32 [heads_q, total_q] (FlashAttention-2's varlen layout). Causal, window and ALiBi are per sequence, bottom-right aligned; --alibi may be [batch, heads_q]; no --bias or --mask.",
            HelpName = "CQ.npy",
        };
        var cuSeqLensK = new Option<string?>("--cu-seqlens-k") { Description = "int32 [batch + 1] cumulative key offsets (0, ..., total_k); with --cu-seqlens-q.", HelpName = "CK.npy" };
        var device = DeviceOption.Create();
        var bf16 = new Option<bool>("--bf16") { Description = "Inputs are uint16 arrays of bfloat16 bits; o.npy is written the same way." };

        var command = new Command("verify", "Run attention on .npy inputs and write the output and log-sum-exp as .npy.")
        {
            q, k, v, outDir, dout, causal, scale, window, softcap, alibi, bias, mask, dropout, seed, offset, cuSeqLensQ, cuSeqLensK, device, bf16,
        };
        command.SetAction(parse => Run(
            new VerifyArgs(parse.GetRequiredValue(q), parse.GetRequiredValue(k), parse.GetRequiredValue(v), parse.GetRequiredValue(outDir))
            {
                Do = parse.GetValue(dout),
                Causal = parse.GetValue(causal),
                Scale = parse.GetValue(scale),
                Window = parse.GetValue(window) is [int left, int right] ? new AttentionWindow(left, right) : null,
                Softcap = parse.GetValue(softcap),
                Alibi = parse.GetValue(alibi),
                Bias = parse.GetValue(bias),
                Mask = parse.GetValue(mask),
                Dropout = parse.GetValue(dropout),
                Seed = parse.GetValue(seed),
                Offset = parse.GetValue(offset),
                CuSeqLensQ = parse.GetValue(cuSeqLensQ),
                CuSeqLensK = parse.GetValue(cuSeqLensK),
                Device = parse.GetValue(device),
                BFloat16 = parse.GetValue(bf16),
            },
            stdout ?? Console.Out, stderr ?? Console.Error));
        return command;
    }

    /// <summary>
    /// Runs <c>verify</c> in-process. On success writes <c>o.npy</c> and <c>lse.npy</c> into
    /// <see cref="VerifyArgs.Out"/>, a summary line to <paramref name="stdout"/>, and returns 0.
    /// On failure writes one line to <paramref name="stderr"/>, nothing to disk, and returns
    /// <see cref="Failed"/>. With --do it also writes dq.npy, dk.npy and dv.npy from the backward.
    /// </summary>
    public static int Run(VerifyArgs args, TextWriter stdout, TextWriter stderr)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);
        try
        {
            var inputs = VerifyInputs.Load(args);
            string summary = inputs.DType switch
            {
                NpyDType.Float32 => Execute(inputs, args, a => a.AsSingle(), NpyFile.Write),
                NpyDType.Float16 => Execute(inputs, args, a => a.AsHalf(), NpyFile.Write),
                _ => Execute(inputs, args, a => a.AsBFloat16(), NpyFile.Write),
            };
            stdout.WriteLine(summary);
            return 0;
        }
        catch (BenchInputException e)
        {
            stderr.WriteLine($"verify: {OneLine(e.Message)}");
            return Failed;
        }
    }

    private static string Execute<T>(VerifyInputs inputs, VerifyArgs args, Func<NpyArray, T[]> read,
        Action<string, T[], int[]> write) where T : unmanaged
    {
        var q = Tensor(inputs.Q, read);
        var k = Tensor(inputs.K, read);
        var v = Tensor(inputs.V, read);
        var options = new AttentionOptions
        {
            Causal = args.Causal, Scale = args.Scale, ReturnLse = true,
            Window = args.Window, Softcap = args.Softcap ?? 0f, AlibiSlopes = inputs.AlibiSlopes,
            Bias = inputs.Bias, HalfBias = inputs.HalfBias, Mask = inputs.Mask,
            ReturnBiasGradient = (inputs.Bias is not null || inputs.HalfBias is not null) && inputs.DOut is not null,
            DropoutP = args.Dropout ?? 0f, DropoutSeed = args.Seed, DropoutOffset = args.Offset,
        };

        var dOut = inputs.DOut is null ? null : Tensor(inputs.DOut, read);
        AttentionResult<T> result;
        AttentionGradients<T>? grads = null;
        string deviceName;
        try
        {
            using var engine = AttentionEngine.Create(args.Device);
            deviceName = $"{engine.DeviceName} ({engine.AcceleratorType})";
            if (inputs.CuSeqLensQ is { } cuQ && inputs.CuSeqLensK is { } cuK)
            {
                // The longest sequences size the grid (offsets that are not non-decreasing are reported by the engine first).
                int maxQ = Longest(cuQ), maxK = Longest(cuK);
                result = engine.ForwardVarLen(q, k, v, cuQ, cuK, maxQ, maxK, options);
                if (dOut is not null)
                    grads = engine.BackwardVarLen(dOut, q, k, v, result.Output, result.Lse!, cuQ, cuK, maxQ, maxK, options);
            }
            else
            {
                result = engine.Forward(q, k, v, options);
                if (dOut is not null)
                    grads = engine.Backward(dOut, q, k, v, result.Output, result.Lse!, options);
            }
        }
        catch (ArgumentException e)
        {
            throw new BenchInputException(EngineMessage(e, args));
        }
        catch (Exception e) when (e is InvalidOperationException or NotSupportedException)
        {
            throw new BenchInputException($"cannot run on --device {args.Device.ToString().ToLowerInvariant()}: {e.Message}");
        }

        var ql = q.Layout;
        string oPath = Path.Combine(args.Out, "o.npy");
        string lsePath = Path.Combine(args.Out, "lse.npy");
        try
        {
            Directory.CreateDirectory(args.Out);
            write(oPath, result.Output.Data, Shape(ql, inputs.CuSeqLensQ is not null));
            if (inputs.CuSeqLensQ is { } cu)
                NpyFile.Write(lsePath, HeadMajorLse(result.Lse!, cu, ql.Heads), ql.Heads, ql.SeqLen);
            else
                NpyFile.Write(lsePath, result.Lse!, ql.Batch, ql.Heads, ql.SeqLen);
            if (grads is not null)
            {
                foreach (var (name, g) in new[] { ("dq", grads.DQ), ("dk", grads.DK), ("dv", grads.DV) })
                    write(Path.Combine(args.Out, name + ".npy"), g.Data, Shape(g.Layout, inputs.CuSeqLensQ is not null));
                if (grads.DBias is { } dBias && options.Bias is { } b)
                    NpyFile.Write(Path.Combine(args.Out, "dbias.npy"), dBias, b.Batch, b.Heads, b.SeqLenQ, b.SeqLenK);
                else if (grads.DBias is { } dHalfBias && options.HalfBias is { } h)
                    NpyFile.Write(Path.Combine(args.Out, "dbias.npy"), dHalfBias, h.Batch, h.Heads, h.SeqLenQ, h.SeqLenK);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new BenchInputException($"{args.Out}: cannot write the outputs: {e.Message}");
        }
        string lseShape = inputs.CuSeqLensQ is null ? $"[{ql.Batch}, {ql.Heads}, {ql.SeqLen}]" : $"[{ql.Heads}, {ql.SeqLen}]";
        string oShape = $"[{string.Join(", ", Shape(ql, inputs.CuSeqLensQ is not null))}]";
        return $"verify: wrote {oPath} ({inputs.DType.Name()} {oShape}) and {lsePath} " +
               $"(float32 {lseShape}){(grads is null ? "" : ", dq.npy, dk.npy, dv.npy")}{(grads?.DBias is null ? "" : ", dbias.npy")} on {deviceName}";
    }

    private static HostTensor<T> Tensor<T>(NpyArray array, Func<NpyArray, T[]> read) where T : unmanaged
    {
        var d = VerifyInputs.Dims(array); // a packed varlen file [total, heads, headdim] is batch 1
        return HostTensor<T>.Bshd(read(array), d[0], d[1], d[2], d[3]);
    }

    // A varlen tensor is written as it came, packed [total_tokens, heads, headdim].
    private static int[] Shape(TensorLayout l, bool packed) =>
        packed ? [l.SeqLen, l.Heads, l.HeadDim] : [l.Batch, l.SeqLen, l.Heads, l.HeadDim];

    private static int Longest(int[] cu)
    {
        int longest = 0;
        for (int b = 0; b + 1 < cu.Length; b++)
            longest = Math.Max(longest, cu[b + 1] - cu[b]);
        return longest;
    }

    /// <summary>
    /// The engine's varlen LSE (sequence b's [heads_q, seqlen_q_b] block at heads_q * cu[b]) as
    /// FlashAttention-2's [heads_q, total_q].
    /// </summary>
    private static float[] HeadMajorLse(float[] packed, int[] cu, int heads)
    {
        int total = cu[^1];
        var lse = new float[(long)heads * total];
        for (int b = 0; b + 1 < cu.Length; b++)
        {
            int n = cu[b + 1] - cu[b];
            for (int h = 0; h < heads; h++)
            for (int i = 0; i < n; i++)
                lse[(long)h * total + cu[b] + i] = packed[(long)heads * cu[b] + (long)h * n + i];
        }
        return lse;
    }

    // The engine names its argument (q, k, v); the user knows the file behind it.
    private static string EngineMessage(ArgumentException e, VerifyArgs args)
    {
        string message = e.Message;
        string suffix = $" (Parameter '{e.ParamName}')";
        if (e.ParamName is not null && message.EndsWith(suffix, StringComparison.Ordinal))
            message = message[..^suffix.Length];
        string? file = e.ParamName switch { "q" => args.Q, "k" => args.K, "v" => args.V, "dOut" => args.Do, "dBias" => args.Bias,
            "cuSeqLensQ" => args.CuSeqLensQ, "cuSeqLensK" => args.CuSeqLensK, _ => null };
        return file is null ? message : $"{file}: {message}";
    }

    private static string OneLine(string text) => text.ReplaceLineEndings(" ");

    private static Option<string> PathOption(string name, string helpName, string description) => new(name)
    {
        Description = description,
        HelpName = helpName,
        Required = true,
    };
}
