namespace FlashAttention.Kernels.TensorCore;

/// <summary>
/// A lane's share of the 16 x 16 A operand of mma.sync.m16n8k16 (row-major), as PTX lays it out:
/// with g = lane / 4 and q = lane % 4, <see cref="A0"/> holds A[g][2q..2q+1], <see cref="A1"/>
/// A[g+8][2q..2q+1], <see cref="A2"/> A[g][2q+8..2q+9], <see cref="A3"/> A[g+8][2q+8..2q+9];
/// each register packs two 16-bit values, the lower column in the low half.
/// </summary>
public struct FragmentA
{
    /// <summary>Packed pairs, see the type's summary.</summary>
    public uint A0, A1, A2, A3;
}

/// <summary>
/// A lane's share of the 16 x 8 B operand (column-major): <see cref="B0"/> holds B[2q..2q+1][g],
/// <see cref="B1"/> B[2q+8..2q+9][g].
/// </summary>
public struct FragmentB
{
    /// <summary>Packed pairs, see the type's summary.</summary>
    public uint B0, B1;
}

/// <summary>
/// A lane's share of the 16 x 8 float32 accumulator: <see cref="C0"/>, <see cref="C1"/> = D[g][2q..2q+1],
/// <see cref="C2"/>, <see cref="C3"/> = D[g+8][2q..2q+1].
/// </summary>
public struct FragmentC
{
    /// <summary>Accumulators, see the type's summary.</summary>
    public float C0, C1, C2, C3;
}
