using FlashAttention.Kernels.TensorCore;
using ILGPU.Runtime.Cuda;

namespace FlashAttention.Kernels.Portable;

/// <summary>
/// A streaming-decode lane's private ring of key/value stages in shared memory, filled by cp.async, contiguous or paged
/// caches (the default where the kernel steps 2 keys a team: <see cref="Launch.DecodeLauncher.StreamsThroughRing"/>). The
/// register form (<see cref="DecodeStreamStep"/>) keeps one step of loads in flight per lane; the ring keeps
/// <see cref="Stages"/> - 1 steps in flight without holding registers for them, so a multiprocessor with few groups
/// (batch 1-2, short caches) still has many bytes outstanding. Each lane copies and reads only its own slices, so no
/// barrier is needed: cp.async.wait_group makes a thread's own copies visible to it.
/// The group's rings are interleaved: vector i of lane t sits at i * Threads + t, so the 8 lanes of a quarter-warp copy
/// and read 128 contiguous bytes. The first build gave each lane 256 contiguous bytes, which put all 8 lanes of a
/// quarter-warp on the same four banks (an 8-way conflict) and ran 1.2-1.6x slower than the register loads (H100,
/// session 18, s18a); interleaved it runs in 0.90-0.99x their time (session 19, s19a and s19b; paged 0.85-1.00x).
/// 8 stages (64 KB a group: two groups an SM) ran 1.01-1.23x slower than 4 (s19b).
/// Off CUDA the copies happen at once.
/// </summary>
internal struct DecodeRing
{
    /// <summary>
    /// Steps a lane's ring holds: the one being read and <see cref="Stages"/> - 1 in flight (a power of two; experiments:
    /// FLASH_DECODE_STAGES=8 or 2; a readonly static field, so kernels compile it in as a constant).
    /// </summary>
    public static readonly int Stages = Environment.GetEnvironmentVariable("FLASH_DECODE_STAGES") switch { "8" => 8, "2" => 2, _ => 4 };

    /// <summary>16-byte vectors of one lane's ring at <paramref name="unroll"/> keys a step: a key and a value per key and stage.</summary>
    public static int LaneVectors(int unroll) => Stages * unroll * 2;

    /// <summary>Floats of the group's rings (they come before the team merge's floats).</summary>
    public static int SharedFloats(int unroll) => DecodeStreamKernel.Threads * LaneVectors(unroll) * 4;

    /// <summary>
    /// Whether a contiguous cache's copies run from per-lane cursors (<see cref="Aim{TTarget, T}"/>): one add a stage in place of a
    /// 64-bit row offset a copy; issuing a step's four copies took 77 executed SASS instructions before, 50 now (d 128, 4 rows,
    /// CUDA 12.4, sm_90; session 23).
    /// The experiment FLASH_DECODE_CURSOR=0 turns it off (a readonly static field, so kernels compile it in as a constant).
    /// </summary>
    public static readonly bool Cursors = Environment.GetEnvironmentVariable("FLASH_DECODE_CURSOR") != "0";

    private ArrayView<Raw16> vectors;
    private int lane;         // this lane's first vector in the group's rings; the next ones follow every Threads vectors
    private uint sharedBytes; // its byte address in the shared window (CUDA)
    private int issued, read;
    // Contiguous caches (Cursors): this lane's slice of the next stage's first key, K and V: a byte address on CUDA, a vector index
    // off it (the same arithmetic in units of 16 bytes, so the CPU tests check it).
    private ulong kNext, vNext;

    /// <summary>The ring of the calling lane in <paramref name="shared"/> (the group's dynamic shared buffer, 16-byte aligned).</summary>
    public static DecodeRing Start<TTarget>(ArrayView<float> shared, int unroll)
        where TTarget : struct, ITensorCoreTarget
    {
        var ring = new DecodeRing { vectors = shared.Cast<Raw16>(), lane = Group.IdxX };
        if (default(TTarget).EmitsPtx)
            ring.sharedBytes = (uint)Wgmma.SharedBase<TTarget>() + (uint)ring.lane * 16;
        return ring;
    }

    /// <summary>
    /// Issues the copies of the lane's slices of keys and values firstKey + u * keys (u &lt; unroll) into the next stage and
    /// commits them as one group; keys at or past <paramref name="end"/> are zero-filled (their scores are masked).
    /// </summary>
    public void Issue<TTarget, T>(in DecodeParams<T> p, in VectorRows kRows, in VectorRows vRows, int batch, int firstKey, int keys, int end, int slot, int unroll)
        where TTarget : struct, ITensorCoreTarget
        where T : unmanaged
    {
        int at = (issued & (Stages - 1)) * unroll * 2;
        issued++;
        if (Cursors && p.Cache.Paged == 0)
        {
            IssueFromCursors<TTarget, T>(p, kRows, vRows, firstKey, keys, end, unroll, at);
            return;
        }
        Copy<TTarget, T>(p, kRows, vRows, batch, firstKey, end, slot, at);
        Copy<TTarget, T>(p, kRows, vRows, batch, firstKey + keys, end, slot, at + 2);
        if (unroll > 2)
        {
            Copy<TTarget, T>(p, kRows, vRows, batch, firstKey + 2 * keys, end, slot, at + 4);
            Copy<TTarget, T>(p, kRows, vRows, batch, firstKey + 3 * keys, end, slot, at + 6);
        }
        CpAsync.Commit<TTarget>();
    }

    /// <summary>
    /// Points the cursors of a contiguous cache at the lane's slice of key <paramref name="firstKey"/>, the first key the first
    /// <see cref="Issue{TTarget, T}"/> copies (each later one must start a step of keys further on, as the key loops do).
    /// </summary>
    public void Aim<TTarget, T>(in DecodeParams<T> p, in VectorRows kRows, in VectorRows vRows, int firstKey, int slot)
        where TTarget : struct, ITensorCoreTarget
        where T : unmanaged
    {
        if (!Cursors || p.Cache.Paged != 0)
            return;
        kNext = Unit<TTarget>(p.Cache.K.Address, kRows.Base + firstKey * kRows.RowStride + slot);
        vNext = Unit<TTarget>(p.Cache.V.Address, vRows.Base + firstKey * vRows.RowStride + slot);
    }

    /// <summary>Vector <paramref name="index"/> of a buffer at <paramref name="address"/>: its byte address on CUDA, the index itself off it.</summary>
    private static ulong Unit<TTarget>(ulong address, long index) where TTarget : struct, ITensorCoreTarget =>
        default(TTarget).EmitsPtx ? address + (ulong)index * 16 : (ulong)index;

    /// <summary>
    /// <see cref="Issue{TTarget, T}"/>'s copies of a contiguous cache from the cursors, which then move on a step
    /// (<paramref name="unroll"/> x <paramref name="keys"/> rows). Key u's slice lies u x keys rows past the cursor; a key at or past
    /// <paramref name="end"/> is zero-filled from the buffer's first vector, an address inside it.
    /// </summary>
    private void IssueFromCursors<TTarget, T>(in DecodeParams<T> p, in VectorRows kRows, in VectorRows vRows, int firstKey, int keys, int end,
        int unroll, int at)
        where TTarget : struct, ITensorCoreTarget
        where T : unmanaged
    {
        // One 64-bit product by a compile-time constant each (keys is one, and 16 bytes a vector on CUDA).
        ulong perKey = (ulong)(default(TTarget).EmitsPtx ? keys * 16 : keys);
        ulong kKey = (ulong)kRows.RowStride * perKey, vKey = (ulong)vRows.RowStride * perKey;
        CopyAt<TTarget, T>(p, kRows, vRows, kKey, vKey, 0, firstKey < end, at);
        CopyAt<TTarget, T>(p, kRows, vRows, kKey, vKey, 1, firstKey + keys < end, at + 2);
        if (unroll > 2)
        {
            CopyAt<TTarget, T>(p, kRows, vRows, kKey, vKey, 2, firstKey + 2 * keys < end, at + 4);
            CopyAt<TTarget, T>(p, kRows, vRows, kKey, vKey, 3, firstKey + 3 * keys < end, at + 6);
        }
        kNext += (ulong)unroll * kKey;
        vNext += (ulong)unroll * vKey;
        CpAsync.Commit<TTarget>();
    }

    /// <summary>Key <paramref name="u"/> of the stage (<paramref name="kKey"/>, <paramref name="vKey"/>: the cursors' units between keys) into vectors <paramref name="at"/> and + 1.</summary>
    private readonly void CopyAt<TTarget, T>(in DecodeParams<T> p, in VectorRows kRows, in VectorRows vRows, ulong kKey, ulong vKey, int u, bool valid, int at)
        where TTarget : struct, ITensorCoreTarget
        where T : unmanaged
    {
        ulong k = kNext + (ulong)u * kKey, v = vNext + (ulong)u * vKey;
        if (default(TTarget).EmitsPtx)
        {
            uint to = sharedBytes + (uint)(at * Stride);
            CpAsync.Copy16Raw(to, valid ? k : p.Cache.K.Address, valid);
            CpAsync.Copy16Raw(to + Stride, valid ? v : p.Cache.V.Address, valid);
            return;
        }
        vectors[Index(at)] = valid ? kRows.Vectors[(long)k] : default;
        vectors[Index(at + 1)] = valid ? vRows.Vectors[(long)v] : default;
    }

    /// <summary>
    /// The lane's slices of key <paramref name="key"/>'s K and V rows (through the page table where the cache is paged) into its
    /// ring's vectors <paramref name="at"/> and + 1, or zeros past <paramref name="end"/>.
    /// </summary>
    private readonly void Copy<TTarget, T>(in DecodeParams<T> p, in VectorRows kRows, in VectorRows vRows, int batch, int key, int end, int slot, int at)
        where TTarget : struct, ITensorCoreTarget
        where T : unmanaged
    {
        bool valid = key < end;
        int source = valid ? key : 0; // a zero-filled copy still names an address: key 0's
        long k, v;
        if (p.Cache.Paged == 0)
        {
            k = kRows.Base + (long)source * kRows.RowStride + slot;
            v = vRows.Base + (long)source * vRows.RowStride + slot;
        }
        else
        {
            // K and V share the block table: one lookup for both.
            p.Cache.Locate(batch, source, out int item, out int row);
            k = kRows.At(item, row) + slot;
            v = vRows.At(item, row) + slot;
        }
        if (default(TTarget).EmitsPtx)
        {
            uint to = sharedBytes + (uint)(at * Stride);
            CpAsync.Copy16Raw(to, p.Cache.K.Address + (ulong)k * 16, valid);
            CpAsync.Copy16Raw(to + Stride, p.Cache.V.Address + (ulong)v * 16, valid);
            return;
        }
        vectors[Index(at)] = valid ? kRows.Vectors[k] : default;
        vectors[Index(at + 1)] = valid ? vRows.Vectors[v] : default;
    }

    /// <summary>Waits until the oldest unread stage has landed (all but the <see cref="Stages"/> - 1 newest groups).</summary>
    public static void WaitOldest<TTarget>() where TTarget : struct, ITensorCoreTarget
    {
        if (!default(TTarget).EmitsPtx)
            return;
        if (Stages == 8)
            CudaAsm.Emit("cp.async.wait_group 7;"); // Stages - 1
        else if (Stages == 2)
            CudaAsm.Emit("cp.async.wait_group 1;");
        else
            CudaAsm.Emit("cp.async.wait_group 3;");
    }

    /// <summary>The oldest unread stage's keys (K) or values (V), as <see cref="DecodeStreamStep"/> holds them.</summary>
    public readonly DecodeStreamStep Read(bool values, int unroll)
    {
        int at = (read & (Stages - 1)) * unroll * 2 + (values ? 1 : 0);
        var step = default(DecodeStreamStep);
        step.R0 = vectors[Index(at)];
        step.R1 = vectors[Index(at + 2)];
        if (unroll > 2)
        {
            step.R2 = vectors[Index(at + 4)];
            step.R3 = vectors[Index(at + 6)];
        }
        return step;
    }

    /// <summary>Bytes between a lane's consecutive vectors.</summary>
    private static readonly uint Stride = (uint)DecodeStreamKernel.Threads * 16;

    /// <summary>The group-wide index of this lane's vector <paramref name="at"/>.</summary>
    private readonly int Index(int at) => at * DecodeStreamKernel.Threads + lane;

    /// <summary>Moves on to the next stage once both its keys and values are read.</summary>
    public void Advance() => read++;
}
