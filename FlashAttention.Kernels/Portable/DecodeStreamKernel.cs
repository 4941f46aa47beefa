using FlashAttention.Kernels.Numerics;
using ILGPU.Algorithms;

namespace FlashAttention.Kernels.Portable;

/// <summary>
/// Decoding that streams the cache lane by lane ("flash-decoding" without shared tiles): a
/// group of 128 threads owns one (batch item, kv head, key split) and the 1-8 query rows of that kv
/// head; the group is cut into teams of dim / 8 lanes, one lane per 16-byte slice of a key row, and
/// each team runs its own online softmax over every (teams)-th key of the split, so the key loop has
/// no barrier and no shared tile: a team's scores are summed by xor shuffles inside the team, and
/// each lane keeps its slice of q and of the output for every row. A lane has its next steps' keys
/// and values (up to four of each, 16 bytes apiece) in flight while it works on the current ones,
/// three steps ahead through its cp.async ring in shared memory (<see cref="DecodeRing"/>) or one
/// step ahead in registers with L2 prefetches (decoding is bound by bytes in flight, not arithmetic).
/// At the end the teams' (m, l, acc) meet in shared memory and <see cref="DecodeOutput"/> writes the
/// group's O and LSE, or this split's O_i and LSE_i, which the last split to finish merges
/// (<see cref="DecodeSplitMerge"/>).
/// Needs 16-byte rows of a 16-bit type (8 elements per vector) and head dim 32, 64, 128 or 256
/// (a power of two of slices, so teams tile a warp); warp shuffles (CUDA, CPU); the tiled
/// <see cref="DecodeKernel"/> takes everything else.
/// grid = (splits, heads_kv, batch), <see cref="Threads"/> threads, <see cref="SharedFloats"/> floats.
/// </summary>
public static class DecodeStreamKernel
{
    /// <summary>
    /// Threads per group: four warps, or eight in the experiment FLASH_DECODE_THREADS=256 (twice the teams per split, so a split
    /// takes half the steps and a multiprocessor holds twice the warps at the same split count; a readonly static field, so
    /// kernels compile it in as a constant).
    /// </summary>
    public static readonly int Threads = Environment.GetEnvironmentVariable("FLASH_DECODE_THREADS") == "256" ? 256 : 128;

    /// <summary>The most query rows (heads_q / heads_kv * seqlen_q) one group holds.</summary>
    public const int MaxRows = 8;

    /// <summary>The row counts a kernel is compiled for.</summary>
    public static readonly int[] SupportedRows = [1, 2, 4, 8];

    /// <summary>Whether head dim <paramref name="dim"/> can stream (dim / 8 lanes per key must divide a warp).</summary>
    public static bool SupportsDim(int dim) => dim is 32 or 64 or 128 or 256;

    /// <summary>The compiled row count for <paramref name="rows"/> query rows per kv head (at most <see cref="MaxRows"/>).</summary>
    public static int RowsFor(long rows) => rows <= 1 ? 1 : rows <= 2 ? 2 : rows <= 4 ? 4 : 8;

    /// <summary>Lanes per key row: one per 16-byte slice of 8 elements.</summary>
    public static int LanesPerKey(int dim) => dim / 8;

    /// <summary>
    /// Lanes sets that read the same key rows and share the group's rows between them: 2 for 8 rows (a
    /// lane then holds 4 rows, as for 4: 8 rows in one lane's registers left room for only 2 groups per
    /// SM and 43-50 % of the copy bandwidth), else 1. Both halves of a key read the same addresses in one
    /// warp instruction, so memory serves the key once.
    /// </summary>
    public static int RowHalves(int rows) => rows == 8 ? 2 : 1;

    /// <summary>Rows in one lane's registers.</summary>
    public static int RowsPerLane(int rows) => rows / RowHalves(rows);

    /// <summary>Teams per group, each with its own online softmax over its own keys.</summary>
    public static int Teams(int dim, int rows) => Threads / (LanesPerKey(dim) * RowHalves(rows));

    /// <summary>
    /// Keys per team and step, chosen with <see cref="GroupsPerMultiprocessor"/> so that nothing spills: each
    /// unrolled key holds 8 registers of raw K and V per lane, and registers bound how many groups, hence
    /// loads in flight, a multiprocessor holds. Measured on the H100 (fp16, d 128, 4 rows, batch 8 x 64K):
    /// 2 keys with 4 groups per SM reached 93 % of the copy bandwidth, 4 keys with 3 groups 80 %,
    /// 4 keys unbounded (191 registers, 2 groups) 88 %, 2 keys with 5 groups (spills) 68 %.
    /// </summary>
    public static int Unroll(int rows) => UnrollOverride is 2 or 4 ? UnrollOverride : RowsPerLane(rows) == 1 ? 4 : 2;

    /// <summary>
    /// Groups per multiprocessor the kernel is compiled for (launch bounds: registers per thread at most
    /// 65536 / (groups x <see cref="Threads"/>)): 5 for up to 2 rows per lane, 4 for 4, at 128 threads (<see cref="GroupsOfThreads"/>).
    /// </summary>
    public static int GroupsPerMultiprocessor(int rows) =>
        GroupsOverride >= 0 ? GroupsOverride : GroupsOfThreads(RowsPerLane(rows) <= 2 ? 5 : 4);

    /// <summary>
    /// The groups of <see cref="Threads"/> threads that take the place of <paramref name="groupsOf128"/> groups of 128 (the same
    /// threads, at least 1): larger groups (the experiment FLASH_DECODE_THREADS=256) fit fewer to a multiprocessor.
    /// </summary>
    public static int GroupsOfThreads(int groupsOf128) => Math.Max(1, groupsOf128 * 128 / Threads);

    // Experiments only: FLASH_DECODE_UNROLL=2|4 and FLASH_DECODE_MIN_GROUPS=N override the two choices above.
    private static readonly int UnrollOverride = int.TryParse(Environment.GetEnvironmentVariable("FLASH_DECODE_UNROLL"), out int u) ? u : 0;
    private static readonly int GroupsOverride = int.TryParse(Environment.GetEnvironmentVariable("FLASH_DECODE_MIN_GROUPS"), out int g) ? g : -1;

    /// <summary>
    /// The fewest keys an automatic split gets: a group streams its keys one dependent step after another,
    /// so very short splits pay the prologue, the merge and the memory latency for little work. On the
    /// H100 (fp16, d 128, 32/8 heads, batch 1-2) the best split counts gave each split 256 to 1024 keys
    /// (batch 1 x 8K: 32 splits 36 us, 64 splits 40 us, 128 splits 57 us).
    /// </summary>
    public const int MinKeysPerSplit = 256;

    /// <summary>Keys the group consumes per step: splits are whole numbers of steps.</summary>
    public static int StepKeys(int dim, int rows) => Unroll(rows) * Teams(dim, rows);

    /// <summary>
    /// Shared floats: the teams' scaled outputs [team][row][dim], their m and l, and the group's m and l per
    /// row; reused afterwards by <see cref="DecodeSplitMerge"/> (a flag and one weight per row and split).
    /// </summary>
    public static int SharedFloats(int dim, int rows) =>
        Math.Max(Teams(dim, rows) * rows * (dim + 2) + 2 * rows, 1 + rows * Launch.DecodeSplits.MaxRequested);

    /// <summary>
    /// Whether <see cref="DecodeTransposedScores{TTarget}"/> can run the step of head dim <paramref name="dim"/> and <paramref name="rows"/>
    /// compiled rows: 16 lanes a key row, 4 rows a lane, 2 keys a step (8 scores over 16 lanes).
    /// </summary>
    public static bool SupportsTransposedScores(int dim, int rows) =>
        dim == 128 && RowsPerLane(rows) == 4 && Unroll(rows) == 2;

    /// <summary>
    /// The kernel for storage type T (16-bit), head dim TDim, TRows query rows per group and TUnroll
    /// (2 or 4) keys per team and step; TTarget: inline PTX (cp.async, the L2 prefetch) on CUDA or none; TRing: C4 streams K and V
    /// through <see cref="DecodeRing"/> (the default at 2 keys a step), C0 loads them into registers with L2 prefetches;
    /// TTranspose: C1 sums and softmaxes a step the transposed way (<see cref="DecodeTransposedScores{TTarget}"/>, only where
    /// <see cref="SupportsTransposedScores"/>), C0 with a butterfly per score (<see cref="DecodeButterflyScores"/>).
    /// </summary>
    public static void Run<TTarget, T, TOps, TVec, TShared, TDim, TRows, TUnroll, TRing, TTranspose>(DecodeParams<T> p)
        where TTarget : struct, TensorCore.ITensorCoreTarget
        where T : unmanaged
        where TOps : struct, IElementOps<T>
        where TVec : struct, IVectorElements<T>
        where TShared : struct, ISharedTiles
        where TDim : struct, IConstant
        where TRows : struct, IConstant
        where TUnroll : struct, IConstant
        where TRing : struct, IConstant
        where TTranspose : struct, IConstant
    {
        // A compile-time choice: the other body is never compiled into the kernel.
        if (default(TTranspose).Value != 0)
            Body<TTarget, T, TOps, TVec, TShared, TDim, TRows, TUnroll, TRing, DecodeTransposedScores<TTarget>>(p);
        else
            Body<TTarget, T, TOps, TVec, TShared, TDim, TRows, TUnroll, TRing, DecodeButterflyScores>(p);
    }

    /// <summary>The kernel body, with TScores the way a step's scores are summed and softmaxed.</summary>
    private static void Body<TTarget, T, TOps, TVec, TShared, TDim, TRows, TUnroll, TRing, TScores>(DecodeParams<T> p)
        where TTarget : struct, TensorCore.ITensorCoreTarget
        where T : unmanaged
        where TOps : struct, IElementOps<T>
        where TVec : struct, IVectorElements<T>
        where TShared : struct, ISharedTiles
        where TDim : struct, IConstant
        where TRows : struct, IConstant
        where TUnroll : struct, IConstant
        where TRing : struct, IConstant
        where TScores : struct, IDecodeStepScores
    {
        int dim = default(TDim).Value;
        int rowsPadded = default(TRows).Value;
        int lanesPerKey = LanesPerKey(dim);
        int teams = Teams(dim, rowsPadded);
        int halves = RowHalves(rowsPadded);
        int laneRows = RowsPerLane(rowsPadded);
        int unroll = default(TUnroll).Value;
        int stepKeys = unroll * teams;

        int split = Grid.IdxX;
        int kvHead = Grid.IdxY;
        int batch = Grid.IdxZ;
        int rows = Math.Min(rowsPadded, p.QueryHeadsPerKvHead * p.SeqLenQ);
        // Lane sets of lanesPerKey lanes: set s is half s % halves of team s / halves.
        int set = Group.IdxX / lanesPerKey;
        int slot = Group.IdxX - set * lanesPerKey; // this lane's dims: slot * 8 .. + 7
        int team = set / halves;
        int firstRow = (set - team * halves) * laneRows; // this lane's rows: firstRow .. + laneRows - 1

        // Splits are whole steps, split evenly: only an item's last step is partial.
        int len = p.Cache.Length(batch, p.SeqLenNew);
        int steps = (len + stepKeys - 1) / stepKeys;
        int stepsPerSplit = (steps + p.NumSplits - 1) / p.NumSplits;
        int keyStart = Math.Min(len, split * stepsPerSplit * stepKeys);
        int keyEnd = Math.Min(len, keyStart + stepsPerSplit * stepKeys);

        var r = default(DecodeStreamRows);
        r.R0 = Start<T, TOps>(p, batch, kvHead, firstRow, rows, slot, len, keyEnd);
        if (laneRows > 1)
            r.R1 = Start<T, TOps>(p, batch, kvHead, firstRow + 1, rows, slot, len, keyEnd);
        if (laneRows > 2)
        {
            r.R2 = Start<T, TOps>(p, batch, kvHead, firstRow + 2, rows, slot, len, keyEnd);
            r.R3 = Start<T, TOps>(p, batch, kvHead, firstRow + 3, rows, slot, len, keyEnd);
        }
        if (laneRows > 4)
        {
            r.R4 = Start<T, TOps>(p, batch, kvHead, firstRow + 4, rows, slot, len, keyEnd);
            r.R5 = Start<T, TOps>(p, batch, kvHead, firstRow + 5, rows, slot, len, keyEnd);
            r.R6 = Start<T, TOps>(p, batch, kvHead, firstRow + 6, rows, slot, len, keyEnd);
            r.R7 = Start<T, TOps>(p, batch, kvHead, firstRow + 7, rows, slot, len, keyEnd);
        }

        int per = default(TVec).PerVector;
        var kRows = VectorRows.For(p.Cache.K, batch, kvHead, per);
        var vRows = VectorRows.For(p.Cache.V, batch, kvHead, per);
        // Team t takes keys t, t + teams, ...: a warp's load covers 32 / lanesPerKey adjacent key rows.
        // The next step's keys are issued once this step's scores are done, its values once this step's
        // are accumulated: loads stay in flight while a lane holds one step's raw words at a time.
        bool ring = default(TRing).Value != 0;
        int ringFloats = ring ? DecodeRing.SharedFloats(unroll) : 0;
        var shared = default(TShared).Floats(ringFloats + SharedFloats(dim, rowsPadded));
        var scores = default(TScores);
        scores.Begin(r, slot, teams);
        if (ring)
            StreamThroughRing<TTarget, T, TVec, TScores>(p, ref r, ref scores, DecodeRing.Start<TTarget>(shared, unroll), kRows, vRows, batch, keyStart, keyEnd,
                team, teams, slot, unroll, laneRows, lanesPerKey);
        else
            Stream<TTarget, T, TVec, TScores>(p, ref r, ref scores, kRows, vRows, batch, keyStart, keyEnd, team, teams, slot, unroll, laneRows, lanesPerKey);
        scores.Finish(ref r);

        // The teams meet: each row's max over teams, then every team's acc and l rescaled to it.
        var smem = shared.SubView(ringFloats, SharedFloats(dim, rowsPadded));
        var merge = new DecodeTeamMerge(smem, teams, rowsPadded, dim, team, slot);
        r.PublishMax(merge, firstRow, laneRows);
        Group.Barrier();
        r.PublishScaled(merge, firstRow, laneRows);
        Group.Barrier();
        merge.SumRows();
        Group.Barrier();
        DecodeOutput.Write<T, TOps>(p, merge.Outputs, merge.M, merge.L, split, batch, kvHead, 0, rows, rowsPadded, teams, dim);
        if (p.NumSplits > 1 && p.MergeInGroup != 0)
            DecodeSplitMerge.Run<T, TOps>(p, smem, batch, kvHead, rows);
    }

    /// <summary>The key loop with loads into registers (<see cref="DecodeStreamStep"/>) and L2 prefetches ahead.</summary>
    private static void Stream<TTarget, T, TVec, TScores>(in DecodeParams<T> p, ref DecodeStreamRows r, ref TScores scores, in VectorRows kRows,
        in VectorRows vRows, int batch, int keyStart, int keyEnd, int team, int teams, int slot, int unroll, int laneRows, int lanesPerKey)
        where TTarget : struct, TensorCore.ITensorCoreTarget
        where T : unmanaged
        where TVec : struct, IVectorElements<T>
        where TScores : struct, IDecodeStepScores
    {
        int stepKeys = unroll * teams;
        var keys = DecodeStreamStep.Fetch(kRows, p.Cache, batch, keyStart + team, teams, keyEnd, slot, unroll);
        var values = DecodeStreamStep.Fetch(vRows, p.Cache, batch, keyStart + team, teams, keyEnd, slot, unroll);
        for (int key0 = keyStart; key0 < keyEnd; key0 += stepKeys)
        {
            int firstKey = key0 + team;
            scores.Score<T, TVec>(ref r, keys, unroll, laneRows, lanesPerKey);
            keys = DecodeStreamStep.Fetch(kRows, p.Cache, batch, firstKey + stepKeys, teams, keyEnd, slot, unroll);
            scores.Softmax(ref r, firstKey, teams, unroll, laneRows);
            Accumulate<T, TVec>(ref r, values, unroll, laneRows);
            values = DecodeStreamStep.Fetch(vRows, p.Cache, batch, firstKey + stepKeys, teams, keyEnd, slot, unroll);
            if (p.PrefetchSteps > 0)
                Prefetch<TTarget, T>(p, kRows, vRows, firstKey + p.PrefetchSteps * stepKeys, teams, keyEnd, slot, unroll);
        }
    }

    /// <summary>Adds one step's values (<paramref name="unroll"/> of them, raw), weighted by P, to the lane's acc.</summary>
    private static void Accumulate<T, TVec>(ref DecodeStreamRows r, in DecodeStreamStep values, int unroll, int laneRows)
        where T : unmanaged
        where TVec : struct, IVectorElements<T>
    {
        r.Accumulate(default(TVec).Widen(values.R0), 0, laneRows);
        r.Accumulate(default(TVec).Widen(values.R1), 1, laneRows);
        if (unroll > 2)
        {
            r.Accumulate(default(TVec).Widen(values.R2), 2, laneRows);
            r.Accumulate(default(TVec).Widen(values.R3), 3, laneRows);
        }
    }

    /// <summary>
    /// The key loop through the lane's cp.async ring (<see cref="DecodeRing"/>): the ring is filled
    /// <see cref="DecodeRing.Stages"/> - 1 steps ahead, and each step refills the stage the last one left.
    /// </summary>
    private static void StreamThroughRing<TTarget, T, TVec, TScores>(in DecodeParams<T> p, ref DecodeStreamRows r, ref TScores scores, DecodeRing ring,
        in VectorRows kRows, in VectorRows vRows, int batch, int keyStart, int keyEnd, int team, int teams, int slot, int unroll, int laneRows, int lanesPerKey)
        where TTarget : struct, TensorCore.ITensorCoreTarget
        where T : unmanaged
        where TVec : struct, IVectorElements<T>
        where TScores : struct, IDecodeStepScores
    {
        int stepKeys = unroll * teams;
        ring.Aim<TTarget, T>(p, kRows, vRows, keyStart + team, slot);
        for (int s = 0; s < DecodeRing.Stages - 1; s++)
            ring.Issue<TTarget, T>(p, kRows, vRows, batch, keyStart + team + s * stepKeys, teams, keyEnd, slot, unroll);
        for (int key0 = keyStart; key0 < keyEnd; key0 += stepKeys)
        {
            int firstKey = key0 + team;
            ring.Issue<TTarget, T>(p, kRows, vRows, batch, firstKey + (DecodeRing.Stages - 1) * stepKeys, teams, keyEnd, slot, unroll);
            DecodeRing.WaitOldest<TTarget>();
            var keys = ring.Read(false, unroll);
            scores.Score<T, TVec>(ref r, keys, unroll, laneRows, lanesPerKey);
            scores.Softmax(ref r, firstKey, teams, unroll, laneRows);
            var values = ring.Read(true, unroll);
            Accumulate<T, TVec>(ref r, values, unroll, laneRows);
            ring.Advance();
        }
        TensorCore.CpAsync.WaitAll<TTarget>(); // the zero-filled groups past the end: nothing may be in flight at exit
    }

    /// <summary>
    /// Prefetches into L2 the lane's slices of the keys and values a later step will load (rows
    /// firstKey + u * keys; contiguous caches only, nothing at or past the end).
    /// </summary>
    private static void Prefetch<TTarget, T>(in DecodeParams<T> p, in VectorRows kRows, in VectorRows vRows,
        int firstKey, int keys, int end, int slot, int unroll)
        where TTarget : struct, TensorCore.ITensorCoreTarget
        where T : unmanaged
    {
        if (p.Cache.Paged != 0 || firstKey + (unroll - 1) * keys >= end)
            return;
        // Vector indices are 16-byte units from the start of each tensor's buffer.
        ulong k = p.Cache.K.Address + (ulong)(kRows.Base + (long)firstKey * kRows.RowStride + slot) * 16;
        ulong v = p.Cache.V.Address + (ulong)(vRows.Base + (long)firstKey * vRows.RowStride + slot) * 16;
        ulong kStep = (ulong)(keys * kRows.RowStride * 16);
        ulong vStep = (ulong)(keys * vRows.RowStride * 16);
        L2Prefetch.Line<TTarget>(k);
        L2Prefetch.Line<TTarget>(v);
        L2Prefetch.Line<TTarget>(k + kStep);
        L2Prefetch.Line<TTarget>(v + vStep);
        if (unroll > 2)
        {
            L2Prefetch.Line<TTarget>(k + 2 * kStep);
            L2Prefetch.Line<TTarget>(v + 2 * vStep);
            L2Prefetch.Line<TTarget>(k + 3 * kStep);
            L2Prefetch.Line<TTarget>(v + 3 * vStep);
        }
    }

    /// <summary>
    /// Row <paramref name="r"/> of the kv head's rows (head-major: query head kvHead * group + r / seqlen_q,
    /// position r % seqlen_q) before the key loop: q scaled into the log2 domain, nothing accumulated, and
    /// the last key it may see in this split (bottom-right causal), or -1 for a padding row.
    /// </summary>
    private static DecodeStreamRow Start<T, TOps>(in DecodeParams<T> p, int batch, int kvHead, int r, int rows, int slot, int len, int keyEnd)
        where T : unmanaged
        where TOps : struct, IElementOps<T>
    {
        var row = new DecodeStreamRow { M = float.NegativeInfinity, Limit = -1 };
        if (r >= rows)
            return row;
        int hLocal = r / p.SeqLenQ;
        int query = r - hLocal * p.SeqLenQ;
        long at = p.Q.RowOffset(batch, query, kvHead * p.QueryHeadsPerKvHead + hLocal) + slot * 8;
        float s = p.ScaleLog2;
        var q = p.Q.Data;
        row.Q.Lo = new Float4
        {
            X = default(TOps).ToFloat(q[at]) * s, Y = default(TOps).ToFloat(q[at + 1]) * s,
            Z = default(TOps).ToFloat(q[at + 2]) * s, W = default(TOps).ToFloat(q[at + 3]) * s,
        };
        row.Q.Hi = new Float4
        {
            X = default(TOps).ToFloat(q[at + 4]) * s, Y = default(TOps).ToFloat(q[at + 5]) * s,
            Z = default(TOps).ToFloat(q[at + 6]) * s, W = default(TOps).ToFloat(q[at + 7]) * s,
        };
        row.Limit = keyEnd - 1;
        if (p.Causal != 0)
            row.Limit = Math.Min(row.Limit, query + len - p.SeqLenQ);
        return row;
    }
}
