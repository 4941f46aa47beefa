using ILGPU.Runtime;

namespace FlashAttention.Kernels.Portable;

/// <summary>
/// A 4 x 4 block of float32 accumulators held in registers. ILGPU neither unrolls loops nor keeps
/// indexed local arrays in registers, so the block is sixteen named fields and every operation is
/// written out: each thread's inner loop is then 8 shared loads for 16 FMAs.
/// </summary>
internal struct MicroTile4x4
{
    public float A00, A01, A02, A03;
    public float A10, A11, A12, A13;
    public float A20, A21, A22, A23;
    public float A30, A31, A32, A33;

    /// <summary>
    /// acc[i][j] += x[xOffset + i] * y[yOffset + j]: one step of an outer-product matmul, with both
    /// operands contiguous and 16-byte aligned (offsets multiples of 4), so two vector loads feed 16 FMAs.
    /// </summary>
    public void AccumulateOuter(ArrayView<float> x, int xOffset, ArrayView<float> y, int yOffset)
    {
        var a = Float4.Load(x, xOffset);
        var b = Float4.Load(y, yOffset);
        Fma(a.X, a.Y, a.Z, a.W, b.X, b.Y, b.Z, b.W);
    }

    /// <summary>acc += a b^T for two vectors already loaded.</summary>
    public void AccumulateOuter(in Float4 a, in Float4 b) => Fma(a.X, a.Y, a.Z, a.W, b.X, b.Y, b.Z, b.W);

    /// <summary>acc[i][j] += x[xOffset + i * xStride] * y[yOffset + j * yStride], for operands stored either way round.</summary>
    public void AccumulateOuter(ArrayView<float> x, int xOffset, int xStride, ArrayView<float> y, int yOffset, int yStride)
    {
        float x0 = x[xOffset], x1 = x[xOffset + xStride], x2 = x[xOffset + 2 * xStride], x3 = x[xOffset + 3 * xStride];
        float y0 = y[yOffset], y1 = y[yOffset + yStride], y2 = y[yOffset + 2 * yStride], y3 = y[yOffset + 3 * yStride];
        Fma(x0, x1, x2, x3, y0, y1, y2, y3);
    }

    private void Fma(float x0, float x1, float x2, float x3, float y0, float y1, float y2, float y3)
    {
        A00 += x0 * y0; A01 += x0 * y1; A02 += x0 * y2; A03 += x0 * y3;
        A10 += x1 * y0; A11 += x1 * y1; A12 += x1 * y2; A13 += x1 * y3;
        A20 += x2 * y0; A21 += x2 * y1; A22 += x2 * y2; A23 += x2 * y3;
        A30 += x3 * y0; A31 += x3 * y1; A32 += x3 * y2; A33 += x3 * y3;
    }

    /// <summary>Loads rows [offset + i * ld, +4) of a row-major block (offset and ld multiples of 4).</summary>
    public static MicroTile4x4 Load(ArrayView<float> src, int offset, int ld)
    {
        var r0 = Float4.Load(src, offset);
        var r1 = Float4.Load(src, offset + ld);
        var r2 = Float4.Load(src, offset + 2 * ld);
        var r3 = Float4.Load(src, offset + 3 * ld);
        return new MicroTile4x4
        {
            A00 = r0.X, A01 = r0.Y, A02 = r0.Z, A03 = r0.W,
            A10 = r1.X, A11 = r1.Y, A12 = r1.Z, A13 = r1.W,
            A20 = r2.X, A21 = r2.Y, A22 = r2.Z, A23 = r2.W,
            A30 = r3.X, A31 = r3.Y, A32 = r3.Z, A33 = r3.W,
        };
    }

    /// <summary>Stores the block row-major at dst[offset + i * ld + j] (offset and ld multiples of 4).</summary>
    public readonly void Store(ArrayView<float> dst, int offset, int ld)
    {
        Float4.Store(dst, offset, new Float4 { X = A00, Y = A01, Z = A02, W = A03 });
        Float4.Store(dst, offset + ld, new Float4 { X = A10, Y = A11, Z = A12, W = A13 });
        Float4.Store(dst, offset + 2 * ld, new Float4 { X = A20, Y = A21, Z = A22, W = A23 });
        Float4.Store(dst, offset + 3 * ld, new Float4 { X = A30, Y = A31, Z = A32, W = A33 });
    }

    /// <summary>Stores the block transposed and scaled: dst[offset + j * ld + i] = acc[i][j] * scale.</summary>
    public readonly void StoreTransposed(ArrayView<float> dst, int offset, int ld, float scale)
    {
        Float4.Store(dst, offset, new Float4 { X = A00 * scale, Y = A10 * scale, Z = A20 * scale, W = A30 * scale });
        Float4.Store(dst, offset + ld, new Float4 { X = A01 * scale, Y = A11 * scale, Z = A21 * scale, W = A31 * scale });
        Float4.Store(dst, offset + 2 * ld, new Float4 { X = A02 * scale, Y = A12 * scale, Z = A22 * scale, W = A32 * scale });
        Float4.Store(dst, offset + 3 * ld, new Float4 { X = A03 * scale, Y = A13 * scale, Z = A23 * scale, W = A33 * scale });
    }

    /// <summary>Multiplies row i by the factor ri (the online-softmax rescale of the output).</summary>
    public void ScaleRows(float r0, float r1, float r2, float r3)
    {
        A00 *= r0; A01 *= r0; A02 *= r0; A03 *= r0;
        A10 *= r1; A11 *= r1; A12 *= r1; A13 *= r1;
        A20 *= r2; A21 *= r2; A22 *= r2; A23 *= r2;
        A30 *= r3; A31 *= r3; A32 *= r3; A33 *= r3;
    }
}
