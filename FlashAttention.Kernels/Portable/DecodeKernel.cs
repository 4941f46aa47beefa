using FlashAttention.Kernels.Numerics;

namespace FlashAttention.Kernels.Portable;

/// <summary>
/// Attention of a few new query rows against a key/value cache (decoding), split over the key axis
/// ("flash-decoding"). Decoding is memory-bound: each key and value is used by only
/// heads_q / heads_kv * seqlen_q query rows, so the kernel is built to read every K/V byte once, with
/// as many groups resident per multiprocessor as possible (small tiles, few registers) so that many
/// loads are in flight. One group owns one (batch item, kv head, key split) and all query rows that
/// share that kv head (a compile-time 4, 8 or 16: <see cref="DecodeLayout.RowsFor"/>; more rows take
/// more chunks in grid x). Portable: group barriers and shared memory only.
/// </summary>
public static class DecodeKernel
{
    /// <summary>
    /// grid = (splits * row chunks, heads_kv, batch), <see cref="DecodeLayout.Threads"/> threads. Per key
    /// tile of Bc keys, three barriers:
    /// (1) S = Q Kᵀ into the raw scores, each thread owning one key, a block of four rows and part of the head dim;
    /// (2) the scores summed into P with partial maxima (<see cref="DecodeSoftmax"/>), while the next tile's
    /// keys go into the K tile;
    /// (3) p = exp2(s - m), alpha, while this tile's values go into the V tile;
    /// then l and m updated and acc = alpha acc + P V, each thread owning four rows by four dims for a
    /// slice of the tile's keys. K and V arrive as 16-byte vectors where aligned, fetched into
    /// registers a tile before they are stored (<see cref="DecodeTileLoader"/>). With one split the
    /// group writes O and LSE; with several it writes its O_i (normalised) and LSE_i for <see cref="PartialMergeKernel"/>.
    /// </summary>
    public static void Run<T, TOps, TVec, TShared, TDim, TBc, TRows>(DecodeParams<T> p)
        where T : unmanaged
        where TOps : struct, IElementOps<T>
        where TVec : struct, IVectorElements<T>
        where TShared : struct, ISharedTiles
        where TDim : struct, IConstant
        where TBc : struct, IConstant
        where TRows : struct, IConstant
    {
        int dim = default(TDim).Value;
        int bc = default(TBc).Value;
        int rowsPadded = default(TRows).Value;
        int threads = DecodeLayout.Threads(dim);
        var layout = new DecodeLayout(dim, bc, rowsPadded);
        var smem = default(TShared).Floats(layout.TotalFloats);
        var qs = smem.SubView(0, rowsPadded * dim);
        var ks = smem.SubView(layout.KOffset, bc * layout.KvStride);
        var vs = smem.SubView(layout.VOffset, bc * layout.KvStride);
        var tiles = smem.SubView(layout.KOffset, layout.PartOffset - layout.KOffset);
        var parts = smem.SubView(layout.PartOffset, DecodeLayout.PartFloats(dim));
        var ps = smem.SubView(layout.POffset, bc * rowsPadded);
        var m = smem.SubView(layout.MOffset, rowsPadded);
        var l = smem.SubView(layout.LOffset, rowsPadded);
        var alpha = smem.SubView(layout.AlphaOffset, rowsPadded);
        var mNext = smem.SubView(layout.MNextOffset, rowsPadded);
        var redMax = smem.SubView(layout.RedMaxOffset, threads);
        var redSum = smem.SubView(layout.RedSumOffset, threads);

        int split = Grid.IdxX % p.NumSplits;
        int firstRow = Grid.IdxX / p.NumSplits * rowsPadded;
        int kvHead = Grid.IdxY;
        int batch = Grid.IdxZ;
        int rows = Math.Min(rowsPadded, p.QueryHeadsPerKvHead * p.SeqLenQ - firstRow);
        // Compile-time row blocks (rows past the group's real rows compute zeros): every index below is then constant-folded.
        int rowBlocks = rowsPadded / 4;
        int tid = Group.IdxX;
        // Few rows leave threads without a (row block, key) pair of their own: they share the head dim instead.
        int dimParts = Math.Max(1, threads / (rowBlocks * bc));

        // Tiles are split evenly between splits, each split a whole number of tiles, so a split is
        // never shorter than a tile and only the item's last tile is partial.
        int len = p.Cache.Length(batch, p.SeqLenNew);
        int tilesPerSplit = ((len + bc - 1) / bc + p.NumSplits - 1) / p.NumSplits;
        int keyStart = Math.Min(len, split * tilesPerSplit * bc);
        int keyEnd = Math.Min(len, keyStart + tilesPerSplit * bc);

        LoadQueries<T, TOps>(p, qs, batch, kvHead, firstRow, rows, rowsPadded, dim);
        // Dims past the real head dim must read as zeros in every tile: loads never write them.
        for (int i = tid; i < bc * (dim - p.HeadDim); i += threads)
        {
            int c = i / (dim - p.HeadDim);
            int at = c * layout.KvStride + p.HeadDim + i - c * (dim - p.HeadDim);
            ks[at] = 0f;
            vs[at] = 0f;
        }
        OnlineSoftmax.Reset(m, l, rowsPadded);

        // The P V step: thread = (key slice, 4-row block, 4 dims); its 16 sums stay in registers
        // for the whole key loop and are summed over the slices once, at the end.
        int dim4 = dim / 4;
        int kv4 = layout.KvStride / 4;
        int pairs = rowBlocks * dim4;
        int slices = Math.Max(1, threads / pairs);
        bool owner = tid < pairs * slices;
        int slice = tid / pairs;
        int rb = (tid - slice * pairs) / dim4;
        int d4 = tid - slice * pairs - rb * dim4;
        var a0 = default(Float4);
        var a1 = default(Float4);
        var a2 = default(Float4);
        var a3 = default(Float4);

        bool vectors = p.VectorAligned != 0;
        var kRows = default(VectorRows);
        var vRows = default(VectorRows);
        // Vector path: a tile's K and V are fetched into registers a tile before they are stored, so
        // the memory system never waits for the group's arithmetic.
        var kBatch = default(DecodeTileLoader.VectorBatch);
        var vBatch = default(DecodeTileLoader.VectorBatch);
        if (keyStart < keyEnd)
        {
            int cols = Math.Min(bc, keyEnd - keyStart);
            if (vectors)
            {
                kRows = VectorRows.For(p.Cache.K, batch, kvHead, default(TVec).PerVector);
                vRows = VectorRows.For(p.Cache.V, batch, kvHead, default(TVec).PerVector);
                var first = DecodeTileLoader.Fetch<T, TVec>(kRows, p.Cache, batch, keyStart, cols, dim, threads);
                vBatch = DecodeTileLoader.Fetch<T, TVec>(vRows, p.Cache, batch, keyStart, cols, dim, threads);
                int nextKey = keyStart + bc;
                if (nextKey < keyEnd)
                    kBatch = DecodeTileLoader.Fetch<T, TVec>(kRows, p.Cache, batch, nextKey, Math.Min(bc, keyEnd - nextKey), dim, threads);
                DecodeTileLoader.Store<T, TVec>(first, kRows, p.Cache, batch, keyStart, cols, dim, threads, ks, layout.KvStride);
            }
            else
            {
                DecodeTileLoader.LoadElements<T, TOps>(p.Cache.K, p.Cache, batch, kvHead, keyStart, cols, p.HeadDim, ks, layout.KvStride);
            }
        }
        Group.Barrier(); // Q, the zero dims, m, l and the first K tile are in place
        for (int firstKey = keyStart; firstKey < keyEnd; firstKey += bc)
        {
            int cols = Math.Min(bc, keyEnd - firstKey);
            int nextKey = firstKey + bc;
            Scores(p, qs, ks, parts, layout, rows, rowBlocks, dimParts, firstRow, firstKey, cols, len, dim, threads);
            Group.Barrier(); // raw scores complete; the K tile is free
            DecodeSoftmax.PartialMax(ps, parts, dimParts, bc, redMax, rowsPadded, threads, cols);
            if (nextKey < keyEnd)
            {
                int nextCols = Math.Min(bc, keyEnd - nextKey);
                if (vectors)
                {
                    DecodeTileLoader.Store<T, TVec>(kBatch, kRows, p.Cache, batch, nextKey, nextCols, dim, threads, ks, layout.KvStride);
                    int afterKey = nextKey + bc;
                    kBatch = afterKey < keyEnd
                        ? DecodeTileLoader.Fetch<T, TVec>(kRows, p.Cache, batch, afterKey, Math.Min(bc, keyEnd - afterKey), dim, threads)
                        : default;
                }
                else
                {
                    DecodeTileLoader.LoadElements<T, TOps>(p.Cache.K, p.Cache, batch, kvHead, nextKey, nextCols, p.HeadDim, ks, layout.KvStride);
                }
            }
            Group.Barrier(); // P and the partial maxima complete
            DecodeSoftmax.Exponentiate(ps, m, mNext, alpha, redMax, redSum, rowsPadded, threads, cols);
            // The previous tile's P V finished before the first barrier of this tile: V can take the V tile.
            if (vectors)
            {
                DecodeTileLoader.Store<T, TVec>(vBatch, vRows, p.Cache, batch, firstKey, cols, dim, threads, vs, layout.KvStride);
                vBatch = nextKey < keyEnd
                    ? DecodeTileLoader.Fetch<T, TVec>(vRows, p.Cache, batch, nextKey, Math.Min(bc, keyEnd - nextKey), dim, threads)
                    : default;
            }
            else
            {
                DecodeTileLoader.LoadElements<T, TOps>(p.Cache.V, p.Cache, batch, kvHead, firstKey, cols, p.HeadDim, vs, layout.KvStride);
            }
            Group.Barrier(); // p, alpha and the V tile complete
            // No barrier closes the tile: the next tile's first phase writes only the raw scores and
            // reads only the K tile, neither of which this phase touches.
            DecodeSoftmax.Commit(m, mNext, l, alpha, redSum, rowsPadded, threads);
            if (owner)
            {
                var scale = Float4.Load(alpha, rb * 4);
                a0 = Float4.Scale(a0, scale.X);
                a1 = Float4.Scale(a1, scale.Y);
                a2 = Float4.Scale(a2, scale.Z);
                a3 = Float4.Scale(a3, scale.W);
                // Running 64-bit vector indices with compile-time steps (see Float4.At).
                long vi = (long)slice * kv4 + d4;
                long pi = (long)slice * rowBlocks + rb;
                for (int c = slice; c < cols; c += slices)
                {
                    var v = Float4.At(vs, vi);
                    var pr = Float4.At(ps, pi);
                    a0 = Float4.MultiplyAdd(a0, pr.X, v);
                    a1 = Float4.MultiplyAdd(a1, pr.Y, v);
                    a2 = Float4.MultiplyAdd(a2, pr.Z, v);
                    a3 = Float4.MultiplyAdd(a3, pr.W, v);
                    vi += (long)slices * kv4;
                    pi += (long)slices * rowBlocks;
                }
            }
        }

        // Sum the slices through the tile space: [slice][row][dim].
        Group.Barrier();
        if (owner)
        {
            int at = (slice * rowsPadded + rb * 4) * dim + d4 * 4;
            Float4.Store(tiles, at, a0);
            Float4.Store(tiles, at + dim, a1);
            Float4.Store(tiles, at + 2 * dim, a2);
            Float4.Store(tiles, at + 3 * dim, a3);
        }
        Group.Barrier();
        DecodeOutput.Write<T, TOps>(p, tiles, m, l, split, batch, kvHead, firstRow, rows, rowsPadded, slices, dim);
    }

    /// <summary>Q rows of this group into qs [rowsPadded][dim]; rows past the group and dims past the head dim are zeros.</summary>
    private static void LoadQueries<T, TOps>(in DecodeParams<T> p, ArrayView<float> qs, int batch, int kvHead, int firstRow, int rows,
        int rowsPadded, int dim)
        where T : unmanaged
        where TOps : struct, IElementOps<T>
    {
        for (int i = Group.IdxX; i < rowsPadded * dim; i += Group.DimX)
        {
            int r = i / dim;
            int d = i - r * dim;
            float value = 0f;
            if (r < rows && d < p.HeadDim)
            {
                int g = firstRow + r;
                int hLocal = g / p.SeqLenQ;
                int query = g - hLocal * p.SeqLenQ;
                value = default(TOps).ToFloat(p.Q.Data[p.Q.RowOffset(batch, query, kvHead * p.QueryHeadsPerKvHead + hLocal) + d]);
            }
            qs[i] = value;
        }
    }

    /// <summary>
    /// Raw scores S = Q Kᵀ * scale * log2(e), masked, into dst [part][key][rowsPadded]: a thread owns one key
    /// and a block of four rows, so it reads its key row once per four dot products; the Q rows it reads
    /// are the same across the warp (broadcast). Thread part k sums its share of the head dim (a masked
    /// pair: -inf from part 0, 0 from the others) and <see cref="DecodeSoftmax.PartialMax"/> adds the parts.
    /// </summary>
    private static void Scores<T>(in DecodeParams<T> p, ArrayView<float> qs, ArrayView<float> ks, ArrayView<float> dst,
        DecodeLayout layout, int rows, int rowBlocks, int dimParts, int firstRow, int firstKey, int cols, int len, int dim, int threads)
        where T : unmanaged
    {
        int bc = layout.Bc;
        int rowsPadded = layout.Rows;
        int pairs = rowBlocks * bc;
        int dim4 = dim / 4;
        int kv4 = layout.KvStride / 4;
        int share = (dim4 + dimParts - 1) / dimParts;
        for (int idx = Group.IdxX; idx < pairs * dimParts; idx += threads)
        {
            int part = idx / pairs;
            int rb = (idx - part * pairs) / bc;
            int c = idx - part * pairs - rb * bc;
            int r0 = rb * 4;
            float s0 = 0f, s1 = 0f, s2 = 0f, s3 = 0f;
            if (c < cols)
            {
                int first = part * share;
                int end = Math.Min(dim4, first + share);
                // Running 64-bit vector indices; the other rows are compile-time steps from row r0 (see Float4.At).
                long ki = (long)c * kv4 + first;
                long qi = (long)r0 * dim4 + first;
                for (int j = first; j < end; j++)
                {
                    var k = Float4.At(ks, ki);
                    s0 = Float4.DotAdd(s0, Float4.At(qs, qi), k);
                    s1 = Float4.DotAdd(s1, Float4.At(qs, qi + dim4), k);
                    s2 = Float4.DotAdd(s2, Float4.At(qs, qi + 2 * dim4), k);
                    s3 = Float4.DotAdd(s3, Float4.At(qs, qi + 3 * dim4), k);
                    ki++;
                    qi++;
                }
            }
            int key = firstKey + c;
            float hidden = part == 0 ? float.NegativeInfinity : 0f;
            bool inTile = c < cols;
            Float4.Store(dst, (part * bc + c) * rowsPadded + r0, new Float4
            {
                X = Logit(p, s0, r0, rows, firstRow, key, inTile, len, hidden),
                Y = Logit(p, s1, r0 + 1, rows, firstRow, key, inTile, len, hidden),
                Z = Logit(p, s2, r0 + 2, rows, firstRow, key, inTile, len, hidden),
                W = Logit(p, s3, r0 + 3, rows, firstRow, key, inTile, len, hidden),
            });
        }
    }

    /// <summary>The scaled score in the log2 domain, or <paramref name="hidden"/> where row r may not see the key (causal: bottom-right aligned to the visible length).</summary>
    private static float Logit<T>(in DecodeParams<T> p, float s, int r, int rows, int firstRow, int key, bool inTile, int len, float hidden)
        where T : unmanaged
    {
        bool visible = inTile && r < rows;
        if (p.Causal != 0)
        {
            // Only causal rows need their query position (a run-time division, skipped for one query row).
            int g = firstRow + r;
            int query = p.SeqLenQ == 1 ? 0 : g - g / p.SeqLenQ * p.SeqLenQ;
            visible &= key <= query + len - p.SeqLenQ;
        }
        return visible ? s * p.ScaleLog2 : hidden;
    }
}
