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

    /// <summary>acc[i][j] += x[xOffset + i] * y[yOffset + j]: one step of an outer-product matmul.</summary>
    public void AccumulateOuter(ArrayView<float> x, int xOffset, ArrayView<float> y, int yOffset) =>
        AccumulateOuter(x, xOffset, 1, y, yOffset, 1);

    /// <summary>acc[i][j] += x[xOffset + i * xStride] * y[yOffset + j * yStride], for operands stored either way round.</summary>
    public void AccumulateOuter(ArrayView<float> x, int xOffset, int xStride, ArrayView<float> y, int yOffset, int yStride)
    {
        float x0 = x[xOffset], x1 = x[xOffset + xStride], x2 = x[xOffset + 2 * xStride], x3 = x[xOffset + 3 * xStride];
        float y0 = y[yOffset], y1 = y[yOffset + yStride], y2 = y[yOffset + 2 * yStride], y3 = y[yOffset + 3 * yStride];
        A00 += x0 * y0; A01 += x0 * y1; A02 += x0 * y2; A03 += x0 * y3;
        A10 += x1 * y0; A11 += x1 * y1; A12 += x1 * y2; A13 += x1 * y3;
        A20 += x2 * y0; A21 += x2 * y1; A22 += x2 * y2; A23 += x2 * y3;
        A30 += x3 * y0; A31 += x3 * y1; A32 += x3 * y2; A33 += x3 * y3;
    }

    /// <summary>Loads rows [offset + i * ld, +4) of a row-major block.</summary>
    public static MicroTile4x4 Load(ArrayView<float> src, int offset, int ld)
    {
        var t = new MicroTile4x4();
        int o0 = offset, o1 = offset + ld, o2 = offset + 2 * ld, o3 = offset + 3 * ld;
        t.A00 = src[o0]; t.A01 = src[o0 + 1]; t.A02 = src[o0 + 2]; t.A03 = src[o0 + 3];
        t.A10 = src[o1]; t.A11 = src[o1 + 1]; t.A12 = src[o1 + 2]; t.A13 = src[o1 + 3];
        t.A20 = src[o2]; t.A21 = src[o2 + 1]; t.A22 = src[o2 + 2]; t.A23 = src[o2 + 3];
        t.A30 = src[o3]; t.A31 = src[o3 + 1]; t.A32 = src[o3 + 2]; t.A33 = src[o3 + 3];
        return t;
    }

    /// <summary>Stores the block row-major at dst[offset + i * ld + j].</summary>
    public readonly void Store(ArrayView<float> dst, int offset, int ld)
    {
        int o0 = offset, o1 = offset + ld, o2 = offset + 2 * ld, o3 = offset + 3 * ld;
        dst[o0] = A00; dst[o0 + 1] = A01; dst[o0 + 2] = A02; dst[o0 + 3] = A03;
        dst[o1] = A10; dst[o1 + 1] = A11; dst[o1 + 2] = A12; dst[o1 + 3] = A13;
        dst[o2] = A20; dst[o2 + 1] = A21; dst[o2 + 2] = A22; dst[o2 + 3] = A23;
        dst[o3] = A30; dst[o3 + 1] = A31; dst[o3 + 2] = A32; dst[o3 + 3] = A33;
    }

    /// <summary>Stores the block transposed and scaled: dst[offset + j * ld + i] = acc[i][j] * scale.</summary>
    public readonly void StoreTransposed(ArrayView<float> dst, int offset, int ld, float scale)
    {
        int o0 = offset, o1 = offset + ld, o2 = offset + 2 * ld, o3 = offset + 3 * ld;
        dst[o0] = A00 * scale; dst[o0 + 1] = A10 * scale; dst[o0 + 2] = A20 * scale; dst[o0 + 3] = A30 * scale;
        dst[o1] = A01 * scale; dst[o1 + 1] = A11 * scale; dst[o1 + 2] = A21 * scale; dst[o1 + 3] = A31 * scale;
        dst[o2] = A02 * scale; dst[o2 + 1] = A12 * scale; dst[o2 + 2] = A22 * scale; dst[o2 + 3] = A32 * scale;
        dst[o3] = A03 * scale; dst[o3 + 1] = A13 * scale; dst[o3 + 2] = A23 * scale; dst[o3 + 3] = A33 * scale;
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
