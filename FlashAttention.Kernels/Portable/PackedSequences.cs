using ILGPU;
using ILGPU.Runtime;

namespace FlashAttention.Kernels.Portable;

/// <summary>
/// Variable-length batches (FlashAttention-2's varlen): sequences packed one after another along the
/// token axis of Q, K, V and O, sequence b holding query tokens cu_seqlens_q[b] .. cu_seqlens_q[b + 1]
/// and key tokens cu_seqlens_k[b] .. cu_seqlens_k[b + 1]. The launch's tensors then have batch 1 (the
/// packed token axis as seqlen) and its grid covers max_seqlen by heads by sequences: each group reads
/// its sequence's offsets once (<see cref="Of"/>), returns at once when its tile lies past that
/// sequence, and otherwise continues on a copy of the params rebased onto the sequence
/// (<see cref="ForSequence{T}(in ForwardParams{T}, in Span)"/>), as batch item 0 of an ordinary launch: tensor views start at the
/// sequence's first token, the mask, ALiBi distance and bounds use its own lengths, LSE and D start at
/// heads_q * cu_seqlens_q[b], [batch, heads_q] ALiBi slopes at row b and dropout at stream b * heads_q.
/// So the kernel bodies are unchanged; a launch that is not varlen pays one uniform test per group.
/// With <see cref="Enabled"/> 0 the views are real one-element buffers that are never read.
/// </summary>
public struct PackedSequences
{
    /// <summary>1 for a varlen launch.</summary>
    public int Enabled;

    /// <summary>int32 [batch + 1]: cumulative query token offsets (cu_seqlens_q).</summary>
    public ArrayView<int> CuSeqLensQ;

    /// <summary>int32 [batch + 1]: cumulative key token offsets (cu_seqlens_k).</summary>
    public ArrayView<int> CuSeqLensK;

    /// <summary>One sequence of a packed batch: where its tokens start and how many there are.</summary>
    public readonly struct Span
    {
        /// <summary>Index of the sequence in the batch.</summary>
        public readonly int Index;

        /// <summary>First query token.</summary>
        public readonly int StartQ;

        /// <summary>Query tokens.</summary>
        public readonly int LengthQ;

        /// <summary>First key token.</summary>
        public readonly int StartK;

        /// <summary>Key tokens.</summary>
        public readonly int LengthK;

        /// <summary>Makes a span.</summary>
        public Span(int index, int startQ, int lengthQ, int startK, int lengthK)
        {
            Index = index;
            StartQ = startQ;
            LengthQ = lengthQ;
            StartK = startK;
            LengthK = lengthK;
        }
    }

    /// <summary>Sequence <paramref name="batch"/>'s offsets and lengths (four loads).</summary>
    public readonly Span Of(int batch)
    {
        int q0 = CuSeqLensQ[batch], k0 = CuSeqLensK[batch];
        return new Span(batch, q0, CuSeqLensQ[batch + 1] - q0, k0, CuSeqLensK[batch + 1] - k0);
    }

    /// <summary>The forward launch rebased onto sequence <paramref name="s"/>, seen as batch item 0.</summary>
    public static ForwardParams<T> ForSequence<T>(in ForwardParams<T> p, in Span s) where T : unmanaged
    {
        var r = p;
        r.Q = Rows(p.Q, s.StartQ);
        r.K = Rows(p.K, s.StartK);
        r.V = Rows(p.V, s.StartK);
        r.O = Rows(p.O, s.StartQ);
        r.Lse = RowStats(p.Lse, (long)p.HeadsQ * s.StartQ);
        r.SeqLenQ = s.LengthQ;
        r.SeqLenK = s.LengthK;
        r.Mask = Mask(p.Mask, s);
        r.Scores = Scores(p.Scores, s);
        r.Dropout = Dropout(p.Dropout, s);
        return r;
    }

    /// <summary>The backward launch rebased onto sequence <paramref name="s"/>, seen as batch item 0.</summary>
    public static BackwardParams<T> ForSequence<T>(in BackwardParams<T> p, in Span s) where T : unmanaged
    {
        var r = p;
        r.Q = Rows(p.Q, s.StartQ);
        r.K = Rows(p.K, s.StartK);
        r.V = Rows(p.V, s.StartK);
        r.O = Rows(p.O, s.StartQ);
        r.DO = Rows(p.DO, s.StartQ);
        r.DQ = Rows(p.DQ, s.StartQ);
        r.DK = Rows(p.DK, s.StartK);
        r.DV = Rows(p.DV, s.StartK);
        long stats = (long)p.HeadsQ * s.StartQ;
        r.Lse = RowStats(p.Lse, stats);
        r.Delta = RowStats(p.Delta, stats);
        r.SeqLenQ = s.LengthQ;
        r.SeqLenK = s.LengthK;
        r.Mask = Mask(p.Mask, s);
        r.Scores = Scores(p.Scores, s);
        r.Dropout = Dropout(p.Dropout, s);
        return r;
    }

    /// <summary>The tensor from token <paramref name="start"/> on (64-bit offset; the cp.async address moves with it).</summary>
    private static StridedTensor<T> Rows<T>(in StridedTensor<T> t, int start) where T : unmanaged
    {
        long offset = start * t.RowStride;
        var r = t;
        r.Data = t.Data.SubView(offset, t.Data.Length - offset);
        if (t.Address != 0)
            r.Address = t.Address + (ulong)(offset * Interop.SizeOf<T>());
        return r;
    }

    // The row statistics (LSE, D) of the sequence: its [heads_q, seqlen_q] block. An empty view (no LSE asked for) stays empty.
    private static ArrayView<float> RowStats(ArrayView<float> v, long offset) =>
        v.Length == 0 ? v : v.SubView(offset, v.Length - offset);

    private static AttentionMask Mask(in AttentionMask m, in Span s)
    {
        var r = m;
        r.SeqLenK = s.LengthK;
        r.DiagonalOffset = s.LengthK - s.LengthQ;
        return r;
    }

    private static ScoreModifier Scores(in ScoreModifier m, in Span s)
    {
        var r = m;
        r.DiagonalOffset = s.LengthK - s.LengthQ;
        // [batch, heads_q] slopes: this sequence's row (stride 0 for [heads_q] leaves the view as it is).
        long row = (long)s.Index * m.AlibiBatchStride;
        r.AlibiSlopes = m.AlibiSlopes.SubView(row, m.AlibiSlopes.Length - row);
        return r;
    }

    // Dropout streams as in a padded batch: (b, h) draws stream offset + b * heads_q + h.
    private static Dropout Dropout(in Dropout d, in Span s)
    {
        var r = d;
        r.Offset = d.Offset + (ulong)((long)s.Index * d.HeadsQ);
        return r;
    }
}
