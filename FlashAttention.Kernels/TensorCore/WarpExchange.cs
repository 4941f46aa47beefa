namespace FlashAttention.Kernels.TensorCore;

/// <summary>
/// The tensor-core emulation's stand-in for warp shuffles: each lane posts up to <see cref="Words"/> registers on a
/// board in group-shared memory, the warp meets (<see cref="Meet"/>), every lane reads what it needs of any lane, and
/// the warp meets again before the next post. ILGPU's CPU accelerator runs each shuffle as several rendezvous of the
/// warp's 32 threads, so an emulated mma.sync that gathers its operands from twelve lanes by shuffles cost dozens of
/// them; through the board it costs two. The board is allocated once, in the kernel's prologue
/// (<see cref="Allocate{TTarget}"/>), because the CPU accelerator gives every executed shared-memory allocation its own
/// buffer until the launch ends. On CUDA there is no board (the instructions exchange registers themselves) and
/// nothing of this reaches the PTX.
/// </summary>
public readonly struct WarpExchange
{
    /// <summary>Registers one lane can post at a time: an mma.sync's A and B fragments.</summary>
    public const int Words = 6;

    /// <summary>Threads of the largest group a tensor-core kernel runs.</summary>
    private const int MaxGroupThreads = 1024;

    private readonly ArrayView<uint> board;

    private WarpExchange(ArrayView<uint> board) => this.board = board;

    /// <summary>The group's board off CUDA; an empty one where the target emits PTX. Call it once, outside any loop.</summary>
    public static WarpExchange Allocate<TTarget>() where TTarget : struct, ITensorCoreTarget =>
        default(TTarget).EmitsPtx ? default : new WarpExchange(SharedMemory.Allocate<uint>(MaxGroupThreads * Words));

    /// <summary>Puts this lane's register <paramref name="value"/> in its slot <paramref name="word"/> (0 .. <see cref="Words"/> - 1).</summary>
    public void Post(int word, uint value) => board[Group.LinearIndex * Words + word] = value;

    /// <summary>Waits for every lane of the warp: after a post, before reading; after reading, before the next post.</summary>
    public static void Meet() => Warp.Barrier();

    /// <summary>What lane <paramref name="lane"/> of this warp posted in its slot <paramref name="word"/>.</summary>
    public uint Read(int lane, int word) => board[(Group.LinearIndex - Warp.LaneIdx + lane) * Words + word];
}
