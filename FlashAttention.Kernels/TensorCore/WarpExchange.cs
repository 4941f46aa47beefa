using System.Runtime.CompilerServices;

namespace FlashAttention.Kernels.TensorCore;

/// <summary>
/// The emulation's stand-in for a run of warp shuffles: every lane posts one value on a board in
/// group-shared memory, the warp meets once, and each lane then reads as many lanes' values as it
/// needs. ILGPU's CPU accelerator runs each shuffle as several rendezvous of the warp's OS threads,
/// so an emulated mma.sync that gathers its operands from twelve lanes cost about fifty; through the
/// board it costs two (<see cref="Post"/> and <see cref="Done"/>). Only the paths that run off CUDA
/// call it (<see cref="ITensorCoreTarget.EmitsPtx"/> false), so it never reaches the PTX. Every lane
/// of the warp must call both, as it would a shuffle.
/// </summary>
/// <typeparam name="T">The posted value's type.</typeparam>
internal readonly struct WarpExchange<T> where T : unmanaged
{
    /// <summary>Threads of the largest group a device runs (1024 on CUDA and on the CPU accelerator's NVIDIA form).</summary>
    private const int MaxGroupThreads = 1024;

    private readonly ArrayView<T> board;
    private readonly int firstLane;

    private WarpExchange(ArrayView<T> board, int firstLane)
    {
        this.board = board;
        this.firstLane = firstLane;
    }

    /// <summary>Posts this lane's <paramref name="value"/> and waits for the warp's.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static WarpExchange<T> Post(T value)
    {
        var board = SharedMemory.Allocate<T>(MaxGroupThreads);
        int thread = Group.LinearIndex;
        board[thread] = value;
        Warp.Barrier();
        return new WarpExchange<T>(board, thread - Warp.LaneIdx);
    }

    /// <summary>What lane <paramref name="lane"/> of this warp posted.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public T From(int lane) => board[firstLane + lane];

    /// <summary>Waits until every lane has read, so the board can take the next post.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Done() => Warp.Barrier();
}
