using FlashAttention.Kernels.Numerics;

namespace FlashAttention.Kernels.Portable;

/// <summary>
/// Attention of a few new query rows against a key/value cache (decoding), split over the key axis
/// ("flash-decoding"). Decoding is memory-bound: each key and value is used by only
/// heads_q / heads_kv * seqlen_q query rows, so the kernel is built to read every K/V byte once.
/// One group owns one (batch item, kv head, key split) and all query rows that share that kv head
/// (up to <see cref="DecodeLayout.MaxRows"/>; more rows take more chunks in grid x). Portable: group
/// barriers and shared memory only.
/// </summary>
public static class DecodeKernel
{
    /// <summary>
    /// grid = (splits * row chunks, heads_kv, batch), <see cref="DecodeLayout.Threads"/> threads. Per key
    /// tile of Bc keys: K and V arrive as 16-byte vectors where aligned, fetched into registers one tile
    /// ahead and stored to shared memory when needed (<see cref="DecodeTileLoader"/>); S = Q Kᵀ with each
    /// thread owning one key and four rows, the online softmax (<see cref="DecodeSoftmax"/>: m, l, alpha),
    /// V into the same space, acc = alpha acc + P V
    /// with each thread owning four rows by four dims for a slice of the tile's keys. With one split the
    /// group writes O and LSE; with several it writes its O_i (normalised) and LSE_i for <see cref="PartialMergeKernel"/>.
    /// </summary>
    public static void Run<T, TOps, TVec, TShared, TDim, TBc>(DecodeParams<T> p)
        where T : unmanaged
        where TOps : struct, IElementOps<T>
        where TVec : struct, IVectorElements<T>
        where TShared : struct, ISharedTiles
        where TDim : struct, IConstant
        where TBc : struct, IConstant
    {
        int dim = default(TDim).Value;
        int bc = default(TBc).Value;
        var layout = new DecodeLayout(dim, bc);
        var smem = default(TShared).Floats(layout.TotalFloats);
        var qs = smem.SubView(0, DecodeLayout.MaxRows * dim);
        var kv = smem.SubView(layout.KvOffset, bc * layout.KvStride);
        var ps = smem.SubView(layout.POffset, DecodeLayout.MaxRows * layout.PStride);
        var m = smem.SubView(layout.MOffset, DecodeLayout.MaxRows);
        var l = smem.SubView(layout.LOffset, DecodeLayout.MaxRows);
        var alpha = smem.SubView(layout.AlphaOffset, DecodeLayout.MaxRows);
        var mNext = smem.SubView(layout.MNextOffset, DecodeLayout.MaxRows);
        var redMax = smem.SubView(layout.RedMaxOffset, DecodeLayout.Threads(dim));
        var redSum = smem.SubView(layout.RedSumOffset, DecodeLayout.Threads(dim));
        var parts = smem.SubView(layout.PartOffset, DecodeLayout.PartFloats(dim));

        int split = Grid.IdxX % p.NumSplits;
        int firstRow = Grid.IdxX / p.NumSplits * DecodeLayout.MaxRows;
        int kvHead = Grid.IdxY;
        int batch = Grid.IdxZ;
        int rows = Math.Min(DecodeLayout.MaxRows, p.QueryHeadsPerKvHead * p.SeqLenQ - firstRow);
        int rowBlocks = (rows + 3) / 4;
        int tid = Group.IdxX;
        int threads = Group.DimX;
        // Few rows leave threads without a (row block, key) pair of their own: they share the head dim instead.
        int dimParts = Math.Max(1, threads / (rowBlocks * bc));

        // Tiles are split evenly between splits, each split a whole number of tiles, so a split is
        // never shorter than a tile and only the item's last tile is partial.
        int len = p.Cache.Length(batch, p.SeqLenNew);
        int tilesPerSplit = ((len + bc - 1) / bc + p.NumSplits - 1) / p.NumSplits;
        int keyStart = Math.Min(len, split * tilesPerSplit * bc);
        int keyEnd = Math.Min(len, keyStart + tilesPerSplit * bc);

        LoadQueries<T, TOps>(p, qs, batch, kvHead, firstRow, rows, dim);
        // Dims past the real head dim must read as zeros in every tile: loads never write them.
        for (int i = tid; i < bc * (dim - p.HeadDim); i += threads)
        {
            int c = i / (dim - p.HeadDim);
            kv[c * layout.KvStride + p.HeadDim + i - c * (dim - p.HeadDim)] = 0f;
        }
        OnlineSoftmax.Reset(m, l, DecodeLayout.MaxRows);

        // The P V step: thread = (key slice, 4-row block, 4 dims); its 16 sums stay in registers
        // for the whole key loop and are summed over the slices once, at the end.
        int dim4 = dim / 4;
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

        int rowsPadded = rowBlocks * 4;
        bool vectors = p.VectorAligned != 0;
        // Vector path: tile t + 1's K and V are fetched into registers while tile t is computed,
        // so the memory system never waits for the group's arithmetic.
        var kBatch = default(DecodeTileLoader.VectorBatch);
        var vBatch = default(DecodeTileLoader.VectorBatch);
        if (vectors && keyStart < keyEnd)
        {
            kBatch = DecodeTileLoader.Fetch<T, TVec>(p.Cache.K, p.Cache, batch, kvHead, keyStart, Math.Min(bc, keyEnd - keyStart), dim);
            vBatch = DecodeTileLoader.Fetch<T, TVec>(p.Cache.V, p.Cache, batch, kvHead, keyStart, Math.Min(bc, keyEnd - keyStart), dim);
        }
        for (int firstKey = keyStart; firstKey < keyEnd; firstKey += bc)
        {
            int cols = Math.Min(bc, keyEnd - firstKey);
            Group.Barrier(); // the previous tile's P V is done with the tile space, P, m and l
            if (vectors)
                DecodeTileLoader.Store<T, TVec>(kBatch, p.Cache.K, p.Cache, batch, kvHead, firstKey, cols, dim, kv, layout.KvStride);
            else
                DecodeTileLoader.LoadElements<T, TOps>(p.Cache.K, p.Cache, batch, kvHead, firstKey, cols, p.HeadDim, kv, layout.KvStride);
            int nextKey = firstKey + bc;
            var kNext = default(DecodeTileLoader.VectorBatch);
            var vNext = default(DecodeTileLoader.VectorBatch);
            if (vectors && nextKey < keyEnd)
            {
                kNext = DecodeTileLoader.Fetch<T, TVec>(p.Cache.K, p.Cache, batch, kvHead, nextKey, Math.Min(bc, keyEnd - nextKey), dim);
                vNext = DecodeTileLoader.Fetch<T, TVec>(p.Cache.V, p.Cache, batch, kvHead, nextKey, Math.Min(bc, keyEnd - nextKey), dim);
            }
            Group.Barrier();
            Scores(p, qs, kv, dimParts == 1 ? ps : parts, layout, rows, rowBlocks, dimParts, firstRow, firstKey, cols, len, dim);
            Group.Barrier();
            DecodeSoftmax.PartialMax(ps, layout.PStride, parts, dimParts, bc, redMax, rowsPadded, cols);
            Group.Barrier();
            DecodeSoftmax.Exponentiate(ps, layout.PStride, m, mNext, alpha, redMax, redSum, rowsPadded, cols);
            // The softmax touches only P and the row statistics: V can overwrite K meanwhile.
            if (vectors)
                DecodeTileLoader.Store<T, TVec>(vBatch, p.Cache.V, p.Cache, batch, kvHead, firstKey, cols, dim, kv, layout.KvStride);
            else
                DecodeTileLoader.LoadElements<T, TOps>(p.Cache.V, p.Cache, batch, kvHead, firstKey, cols, p.HeadDim, kv, layout.KvStride);
            Group.Barrier();
            DecodeSoftmax.Commit(m, mNext, l, alpha, redSum, rowsPadded);
            if (owner)
            {
                int r0 = rb * 4 * layout.PStride;
                a0 = Float4.Scale(a0, alpha[rb * 4]);
                a1 = Float4.Scale(a1, alpha[rb * 4 + 1]);
                a2 = Float4.Scale(a2, alpha[rb * 4 + 2]);
                a3 = Float4.Scale(a3, alpha[rb * 4 + 3]);
                for (int c = slice; c < cols; c += slices)
                {
                    var v = Float4.Load(kv, c * layout.KvStride + d4 * 4);
                    a0 = Float4.MultiplyAdd(a0, ps[r0 + c], v);
                    a1 = Float4.MultiplyAdd(a1, ps[r0 + layout.PStride + c], v);
                    a2 = Float4.MultiplyAdd(a2, ps[r0 + 2 * layout.PStride + c], v);
                    a3 = Float4.MultiplyAdd(a3, ps[r0 + 3 * layout.PStride + c], v);
                }
            }
            kBatch = kNext;
            vBatch = vNext;
        }

        // Sum the slices through the tile space: [slice][row][dim].
        Group.Barrier();
        if (owner)
        {
            int at = (slice * rowsPadded + rb * 4) * dim + d4 * 4;
            Float4.Store(kv, at, a0);
            Float4.Store(kv, at + dim, a1);
            Float4.Store(kv, at + 2 * dim, a2);
            Float4.Store(kv, at + 3 * dim, a3);
        }
        Group.Barrier();
        DecodeOutput.Write<T, TOps>(p, kv, m, l, split, batch, kvHead, firstRow, rows, rowsPadded, slices, dim);
    }

    /// <summary>Q rows of this group into qs [MaxRows][dim]; rows past the group and dims past the head dim are zeros.</summary>
    private static void LoadQueries<T, TOps>(in DecodeParams<T> p, ArrayView<float> qs, int batch, int kvHead, int firstRow, int rows, int dim)
        where T : unmanaged
        where TOps : struct, IElementOps<T>
    {
        for (int i = Group.IdxX; i < DecodeLayout.MaxRows * dim; i += Group.DimX)
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
    /// S = Q Kᵀ * scale * log2(e), masked: a thread owns one key and a block of four rows, so it reads its
    /// key row once per four dot products; the Q rows it reads are the same across the warp (broadcast).
    /// With <paramref name="dimParts"/> = 1 the scores go to P [row][PStride]; with more, thread part k sums
    /// its share of the head dim into dst [k][row][Bc] (a masked pair: -inf from part 0, 0 from the others),
    /// and <see cref="DecodeSoftmax.PartialMax"/> adds the parts.
    /// </summary>
    private static void Scores<T>(in DecodeParams<T> p, ArrayView<float> qs, ArrayView<float> kv, ArrayView<float> dst,
        DecodeLayout layout, int rows, int rowBlocks, int dimParts, int firstRow, int firstKey, int cols, int len, int dim)
        where T : unmanaged
    {
        int bc = layout.Bc;
        int pairs = rowBlocks * bc;
        int share = (dim / 4 + dimParts - 1) / dimParts * 4;
        int rowStride = dimParts == 1 ? layout.PStride : bc;
        for (int idx = Group.IdxX; idx < pairs * dimParts; idx += Group.DimX)
        {
            int part = idx / pairs;
            int rb = (idx - part * pairs) / bc;
            int c = idx - part * pairs - rb * bc;
            int r0 = rb * 4;
            float s0 = 0f, s1 = 0f, s2 = 0f, s3 = 0f;
            if (c < cols)
            {
                int k0 = c * layout.KvStride;
                int q0 = r0 * dim;
                int end = Math.Min(dim, (part + 1) * share);
                for (int d = part * share; d < end; d += 4)
                {
                    var k = Float4.Load(kv, k0 + d);
                    s0 += Float4.Dot(Float4.Load(qs, q0 + d), k);
                    s1 += Float4.Dot(Float4.Load(qs, q0 + dim + d), k);
                    s2 += Float4.Dot(Float4.Load(qs, q0 + 2 * dim + d), k);
                    s3 += Float4.Dot(Float4.Load(qs, q0 + 3 * dim + d), k);
                }
            }
            int key = firstKey + c;
            int at = (part * rowBlocks * 4 + r0) * rowStride + c;
            float hidden = part == 0 ? float.NegativeInfinity : 0f;
            dst[at] = Logit(p, s0, r0, rows, firstRow, key, c < cols, len, hidden);
            dst[at + rowStride] = Logit(p, s1, r0 + 1, rows, firstRow, key, c < cols, len, hidden);
            dst[at + 2 * rowStride] = Logit(p, s2, r0 + 2, rows, firstRow, key, c < cols, len, hidden);
            dst[at + 3 * rowStride] = Logit(p, s3, r0 + 3, rows, firstRow, key, c < cols, len, hidden);
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
