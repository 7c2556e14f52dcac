using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace MLNetMixers.Models;

/// <summary>
/// C = A·B on one thread for a tall A [rows, depth] (row-major) and a small B [depth, columns], with what happens to
/// each 16-wide piece of C (bias, GELU, a product with a saved derivative) left to an epilogue: the channel MLP's
/// products, whose depth (d or 4d) is too small for a general GEMM to amortise packing A and clearing C.
/// </summary>
/// <remarks>
/// B is packed once per call into panels of 32 columns (<see cref="Pack"/>); A is read in place. Each step of the
/// inner loop broadcasts one element of 8 rows of A against two vectors of a panel: 16 fused multiply-adds on 16
/// accumulators, which stay in AVX-512's 32 registers. C is never written before the epilogue, so no pass clears it.
/// Requires <see cref="IsSupported"/> and a column count that is a multiple of <see cref="PanelWidth"/>.
/// </remarks>
internal static unsafe class PanelGemm
{
    public const int PanelWidth = 32;
    private const int RowBlock = 8;

    public static bool IsSupported => Vector512.IsHardwareAccelerated;

    /// <summary>What becomes of the sums of C.</summary>
    public interface IEpilogue
    {
        /// <summary>Takes 16 sums of C: row <paramref name="row"/>, the columns from <paramref name="column"/> on.</summary>
        void Store(long row, int column, Vector512<float> sums);

        /// <summary>
        /// Called once rows <paramref name="row"/> to <paramref name="row"/> + <paramref name="count"/> − 1 are stored
        /// in full, while they are still in L1: for work too long to inline next to the accumulators.
        /// </summary>
        void Finish(long row, int count);
    }

    /// <summary>The size of <see cref="Pack"/>'s output, in floats.</summary>
    public static long PackedLength(int depth, int columns) => (long)depth * columns;

    /// <summary>
    /// Packs B [depth, columns], element (k, n) at <c>b[k·strideK + n·strideN]</c> (so a transposed weight packs
    /// without a copy), into panels: panel p holds columns 32p..32p+31, depth rows of 32 consecutive floats.
    /// </summary>
    public static void Pack(float* b, long strideK, long strideN, int depth, int columns, float* packed)
    {
        for (int panel = 0; panel < columns / PanelWidth; panel++)
        {
            float* into = packed + (long)panel * depth * PanelWidth;
            for (int k = 0; k < depth; k++, into += PanelWidth)
            {
                float* from = b + k * strideK + (long)panel * PanelWidth * strideN;
                if (strideN == 1)
                {
                    Vector512.Store(Vector512.Load(from), into);
                    Vector512.Store(Vector512.Load(from + 16), into + 16);
                }
                else
                {
                    for (int j = 0; j < PanelWidth; j++)
                        into[j] = from[j * strideN];
                }
            }
        }
    }

    /// <summary>Hands every 16 sums of A·B to <paramref name="epilogue"/>, A [rows, depth] row-major, B packed.</summary>
    public static void Multiply<TEpilogue>(float* a, long rows, int depth, float* packed, int columns, ref TEpilogue epilogue)
        where TEpilogue : struct, IEpilogue
        => Multiply(a, depth, 1, rows, depth, packed, PanelWidth, (long)depth * PanelWidth, columns, ref epilogue);

    /// <summary>
    /// Hands every 16 sums of A·B to <paramref name="epilogue"/>, 8 rows by 32 columns at a time: A's element (i, k) at
    /// <c>a[i·rowStride + k·depthStride]</c>; panel p of B at <c>b + p·panelStride</c>, its row k
    /// <c>depthStride</c> floats after row k−1 (32 when packed, the row length when B is read in place).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Multiply<TEpilogue>(float* a, long rowStride, long depthStride, long rows, int depth,
                                           float* b, long bDepthStride, long panelStride, int columns, ref TEpilogue epilogue)
        where TEpilogue : struct, IEpilogue
    {
        int panels = columns / PanelWidth;
        long row = 0;
        for (; row + RowBlock <= rows; row += RowBlock)
        {
            for (int panel = 0; panel < panels; panel++)
                EightRows(a + row * rowStride, rowStride, depthStride, depth, b + panel * panelStride, bDepthStride, row, panel * PanelWidth, ref epilogue);
            epilogue.Finish(row, RowBlock);
        }
        for (; row < rows; row++)
        {
            for (int panel = 0; panel < panels; panel++)
                OneRow(a + row * rowStride, depthStride, depth, b + panel * panelStride, bDepthStride, row, panel * PanelWidth, ref epilogue);
            epilogue.Finish(row, 1);
        }
    }

    /// <summary>
    /// C [rows, columns] = Aᵀ·B for A [depth, rows] and B [depth, columns], both row-major and tall (a weight's
    /// gradient: depth is the batch's positions), in chunks of depth that keep B's rows in L2.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void MultiplyTransposed(float* a, int rows, long depth, float* b, int columns, float* c)
    {
        const int Chunk = 128;
        for (long start = 0; start < depth; start += Chunk)
        {
            int chunk = (int)Math.Min(Chunk, depth - start);
            if (start == 0)
            {
                var store = new Plain(c, columns);
                Multiply(a, 1, rows, rows, chunk, b, columns, PanelWidth, columns, ref store);
            }
            else
            {
                var accumulate = new Accumulate(c, columns);
                Multiply(a + start * rows, 1, rows, rows, chunk, b + start * columns, columns, PanelWidth, columns, ref accumulate);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void EightRows<TEpilogue>(float* a, long rowStride, long depthStride, int depth, float* b, long bDepthStride,
                                             long row, int column, ref TEpilogue epilogue)
        where TEpilogue : struct, IEpilogue
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default;
        Vector512<float> c40 = default, c41 = default, c50 = default, c51 = default, c60 = default, c61 = default, c70 = default, c71 = default;
        float* a0 = a, a1 = a0 + rowStride, a2 = a1 + rowStride, a3 = a2 + rowStride, a4 = a3 + rowStride, a5 = a4 + rowStride, a6 = a5 + rowStride, a7 = a6 + rowStride;
        long at = 0;
        // The loop runs on b alone, not on a counter as well: with a0..a7 that is every general register x64 has.
        for (float* end = b + depth * bDepthStride; b < end; b += bDepthStride, at += depthStride)
        {
            var b0 = Vector512.Load(b);
            var b1 = Vector512.Load(b + 16);
            var x = Vector512.Create(a0[at]);
            c00 = Vector512.FusedMultiplyAdd(x, b0, c00); c01 = Vector512.FusedMultiplyAdd(x, b1, c01);
            x = Vector512.Create(a1[at]);
            c10 = Vector512.FusedMultiplyAdd(x, b0, c10); c11 = Vector512.FusedMultiplyAdd(x, b1, c11);
            x = Vector512.Create(a2[at]);
            c20 = Vector512.FusedMultiplyAdd(x, b0, c20); c21 = Vector512.FusedMultiplyAdd(x, b1, c21);
            x = Vector512.Create(a3[at]);
            c30 = Vector512.FusedMultiplyAdd(x, b0, c30); c31 = Vector512.FusedMultiplyAdd(x, b1, c31);
            x = Vector512.Create(a4[at]);
            c40 = Vector512.FusedMultiplyAdd(x, b0, c40); c41 = Vector512.FusedMultiplyAdd(x, b1, c41);
            x = Vector512.Create(a5[at]);
            c50 = Vector512.FusedMultiplyAdd(x, b0, c50); c51 = Vector512.FusedMultiplyAdd(x, b1, c51);
            x = Vector512.Create(a6[at]);
            c60 = Vector512.FusedMultiplyAdd(x, b0, c60); c61 = Vector512.FusedMultiplyAdd(x, b1, c61);
            x = Vector512.Create(a7[at]);
            c70 = Vector512.FusedMultiplyAdd(x, b0, c70); c71 = Vector512.FusedMultiplyAdd(x, b1, c71);
        }
        // A copy the JIT can keep in registers: through the reference it reloads the epilogue's fields for every store.
        var sink = epilogue;
        sink.Store(row, column, c00); sink.Store(row, column + 16, c01);
        sink.Store(row + 1, column, c10); sink.Store(row + 1, column + 16, c11);
        sink.Store(row + 2, column, c20); sink.Store(row + 2, column + 16, c21);
        sink.Store(row + 3, column, c30); sink.Store(row + 3, column + 16, c31);
        sink.Store(row + 4, column, c40); sink.Store(row + 4, column + 16, c41);
        sink.Store(row + 5, column, c50); sink.Store(row + 5, column + 16, c51);
        sink.Store(row + 6, column, c60); sink.Store(row + 6, column + 16, c61);
        sink.Store(row + 7, column, c70); sink.Store(row + 7, column + 16, c71);
    }

    private static void OneRow<TEpilogue>(float* a, long depthStride, int depth, float* b, long bDepthStride, long row, int column, ref TEpilogue epilogue)
        where TEpilogue : struct, IEpilogue
    {
        Vector512<float> c0 = default, c1 = default;
        long at = 0;
        for (int k = 0; k < depth; k++, b += bDepthStride, at += depthStride)
        {
            var x = Vector512.Create(a[at]);
            c0 = Vector512.FusedMultiplyAdd(x, Vector512.Load(b), c0);
            c1 = Vector512.FusedMultiplyAdd(x, Vector512.Load(b + 16), c1);
        }
        epilogue.Store(row, column, c0);
        epilogue.Store(row, column + 16, c1);
    }

    /// <summary>C = A·B, stored as is into a row-major C [rows, columns].</summary>
    public readonly struct Plain(float* c, int columns) : IEpilogue
    {
        /// <summary>The same C from row <paramref name="row"/> on, for a product over those rows alone.</summary>
        public Plain From(long row) => new(c + row * columns, columns);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public readonly void Store(long row, int column, Vector512<float> sums) => sums.Store(c + row * columns + column);

        public readonly void Finish(long row, int count) { }
    }

    /// <summary>C += A·B into a row-major C [rows, columns].</summary>
    public readonly struct Accumulate(float* c, int columns) : IEpilogue
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public readonly void Store(long row, int column, Vector512<float> sums)
        {
            float* at = c + row * columns + column;
            (Vector512.Load(at) + sums).Store(at);
        }

        public readonly void Finish(long row, int count) { }
    }
}
