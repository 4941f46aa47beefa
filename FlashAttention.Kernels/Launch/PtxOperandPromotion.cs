using System.Reflection;
using System.Text;
using ILGPU.Backends.PTX;
using System.Text.RegularExpressions;

namespace FlashAttention.Kernels.Launch;

/// <summary>
/// A pass over ILGPU's PTX that moves inline-assembly operands from local memory into registers.
/// ILGPU 1.5.3 binds every <c>CudaAsm.EmitRef</c> operand through a 4- or 8-byte <c>.local</c>
/// variable: stored before the asm block, loaded after it. In a small kernel ptxas promotes them
/// back to registers; in the tensor-core forward (about a thousand of them, their addresses all
/// computed at entry) it does not, and each mma.sync paid ten local stores and loads (4 KB of stack,
/// 3.8 TFLOPs on the H100). Each such variable is a plain scalar only ever accessed whole through
/// the register holding its address, so it can become a register: <c>st.local.T [%rdK], x</c>
/// turns into <c>mov.T %lpN, x</c> and <c>ld.local.T y, [%rdK]</c> into <c>mov.T y, %lpN</c>.
/// Variables used any other way are left as they are.
/// </summary>
public static partial class PtxOperandPromotion
{
    [GeneratedRegex(@"^\s*\.local\s+\.align\s+\d+\s+\.b8\s+(__local_depot\d+)\[(\d+)\];\s*$")]
    private static partial Regex Declaration();

    [GeneratedRegex(@"^\s*mov\.b64\s+(%rd\d+),\s*(__local_depot\d+);\s*$")]
    private static partial Regex AddressOf();

    [GeneratedRegex(@"^(\s*)st\.local\.(\w+)\s+\[(%rd\d+)\],\s*([^;]+);\s*$")]
    private static partial Regex Store();

    [GeneratedRegex(@"^(\s*)ld\.local\.(\w+)\s+(%\w+),\s*\[(%rd\d+)\];\s*$")]
    private static partial Regex Load();

    [GeneratedRegex(@"%rd\d+\b")]
    private static partial Regex AddressRegister();

    // ILGPU 1.5.3 gives no public way to load edited PTX; its compiled kernel keeps the text in this field.
    internal static readonly FieldInfo PtxField =
        typeof(PTXCompiledKernel).GetField("<PTXAssembly>k__BackingField", BindingFlags.Instance | BindingFlags.NonPublic)
        ?? throw new MissingFieldException(nameof(PTXCompiledKernel), "PTXAssembly backing field (ILGPU changed: revisit PtxOperandPromotion)");

    /// <summary>Rewrites <paramref name="kernel"/>'s PTX in place, before it is loaded; returns how many variables became registers.</summary>
    public static int Apply(PTXCompiledKernel kernel)
    {
        ArgumentNullException.ThrowIfNull(kernel);
        var (ptx, promoted) = Rewrite(kernel.PTXAssembly);
        if (promoted > 0)
            PtxField.SetValue(kernel, ptx);
        return promoted;
    }

    /// <summary>The rewritten PTX, and how many local variables became registers.</summary>
    public static (string Ptx, int Promoted) Rewrite(string ptx)
    {
        ArgumentNullException.ThrowIfNull(ptx);
        // Depot names are per function; with several functions in the module the names could clash.
        if (ptx.Contains(".func", StringComparison.Ordinal))
            return (ptx, 0);
        var lines = ptx.Split('\n');

        // Scalar depots and the address registers that point at them.
        var sizes = new Dictionary<string, int>();
        foreach (var line in lines)
            if (Declaration().Match(line) is { Success: true } m && m.Groups[2].Value is "4" or "8")
                sizes[m.Groups[1].Value] = int.Parse(m.Groups[2].Value);
        var depotOf = new Dictionary<string, string>();
        foreach (var line in lines)
            if (AddressOf().Match(line) is { Success: true } m && sizes.ContainsKey(m.Groups[2].Value))
            {
                if (depotOf.ContainsKey(m.Groups[1].Value))
                    depotOf[m.Groups[1].Value] = ""; // the register is assigned twice: leave it alone
                else
                    depotOf[m.Groups[1].Value] = m.Groups[2].Value;
            }

        // A register qualifies only if every use is a whole-variable load or store through it.
        var disqualified = new HashSet<string>(depotOf.Where(p => p.Value.Length == 0).Select(p => p.Key));
        foreach (var line in lines)
        {
            if (AddressOf().IsMatch(line))
                continue;
            string? through = Store().Match(line) is { Success: true } s ? s.Groups[3].Value
                : Load().Match(line) is { Success: true } l ? l.Groups[4].Value : null;
            foreach (Match use in AddressRegister().Matches(line))
            {
                if (!depotOf.ContainsKey(use.Value) || use.Value == through)
                    continue;
                disqualified.Add(use.Value);
            }
            // The stored value itself may name an address register (storing a pointer): not a depot use.
            if (Store().Match(line) is { Success: true } st && depotOf.ContainsKey(st.Groups[4].Value.Trim()))
                disqualified.Add(st.Groups[4].Value.Trim());
        }
        var promoted = depotOf.Where(p => p.Value.Length != 0 && !disqualified.Contains(p.Key))
            .ToDictionary(p => p.Key, p => p.Value);
        if (promoted.Count == 0)
            return (ptx, 0);
        var depots = new HashSet<string>(promoted.Values);
        // A depot reached through a disqualified register too must stay in memory.
        foreach (var (register, depot) in depotOf)
            if (disqualified.Contains(register) && depot.Length != 0)
                depots.Remove(depot);
        promoted = promoted.Where(p => depots.Contains(p.Value)).ToDictionary(p => p.Key, p => p.Value);
        if (promoted.Count == 0)
            return (ptx, 0);

        string RegisterOf(string depot) => "%lp" + depot["__local_depot".Length..];
        var output = new StringBuilder(ptx.Length);
        bool declared = false;
        foreach (var line in lines)
        {
            if (Declaration().Match(line) is { Success: true } d && depots.Contains(d.Groups[1].Value))
                continue;
            if (AddressOf().Match(line) is { Success: true } a && promoted.ContainsKey(a.Groups[1].Value))
            {
                if (!declared)
                {
                    // Declared once, before the first use, inside the kernel body.
                    foreach (var group in depots.GroupBy(x => sizes[x]))
                        output.Append("\t.reg .b").Append(group.Key * 8).Append(' ')
                            .AppendJoin(", ", group.Select(RegisterOf)).Append(";\n");
                    declared = true;
                }
                continue;
            }
            if (Store().Match(line) is { Success: true } s && promoted.TryGetValue(s.Groups[3].Value, out var sd))
            {
                output.Append(s.Groups[1].Value).Append("mov.").Append(s.Groups[2].Value).Append('\t')
                    .Append(RegisterOf(sd)).Append(", ").Append(s.Groups[4].Value.Trim()).Append(";\n");
                continue;
            }
            if (Load().Match(line) is { Success: true } l && promoted.TryGetValue(l.Groups[4].Value, out var ld))
            {
                output.Append(l.Groups[1].Value).Append("mov.").Append(l.Groups[2].Value).Append('\t')
                    .Append(l.Groups[3].Value).Append(", ").Append(RegisterOf(ld)).Append(";\n");
                continue;
            }
            output.Append(line).Append('\n');
        }
        output.Length--; // the split removed no final newline that the join should add
        return (output.ToString(), depots.Count);
    }
}
