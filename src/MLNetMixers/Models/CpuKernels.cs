using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetMixers.Models;

/// <summary>Shared plumbing of the fused CPU kernels: raw addresses and splitting work over torch's thread count.</summary>
internal static class CpuKernels
{
    /// <summary>Below this many elements per worker, splitting costs more than it saves.</summary>
    public const int MinimumChunk = 1 << 16;

    /// <summary>The address of a contiguous CPU tensor's first element.</summary>
    public static unsafe nint Address(Tensor tensor) => (nint)Unsafe.AsPointer(ref MemoryMarshal.GetReference(tensor.bytes));

    /// <summary>
    /// Keeps the tensors a kernel reads by address reachable until this call: otherwise the collector may finalize one
    /// mid-kernel, freeing its native memory, wherever no DisposeScope holds it.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void KeepAlive(params ReadOnlySpan<Tensor> tensors)
    {
        foreach (var tensor in tensors)
            GC.KeepAlive(tensor);
    }

    /// <summary>How many workers <see cref="ForRanges"/> uses: torch's thread count, fewer for small work.</summary>
    public static int Workers(long count, long minimumPerWorker) =>
        (int)Math.Clamp(Math.Min(Math.Min(torch.get_num_threads(), MaxWorkers), count / Math.Max(1, minimumPerWorker)), 1, 64);

    /// <summary>A cap below torch's thread count: for the step profile's one-worker comparison.</summary>
    internal static int MaxWorkers { get; set; } = int.MaxValue;

    /// <summary>Runs <paramref name="body"/>(first, count, worker) over [0, count) split into contiguous ranges.</summary>
    public static void ForRanges(long count, long minimumPerWorker, Action<long, long, int> body)
    {
        int workers = Workers(count, minimumPerWorker);
        if (workers == 1)
        {
            body(0, count, 0);
            return;
        }
        long chunk = (count + workers - 1) / workers;
        Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = workers }, w =>
        {
            long first = w * chunk;
            long length = Math.Min(chunk, count - first);
            if (length > 0)
                body(first, length, w);
        });
    }

    /// <summary>
    /// Sums over rows per column (a bias or LayerNorm parameter gradient), one accumulator per worker: float partial
    /// sums over blocks of rows, added into doubles, so sums over 10⁵ rows stay exact to float precision.
    /// </summary>
    internal sealed class ColumnSums(int workers, int width)
    {
        private const int RowsPerPartial = 64;
        private readonly Accumulator[] accumulators = Enumerable.Range(0, workers).Select(_ => new Accumulator(width)).ToArray();

        public Accumulator Partial(int worker) => accumulators[worker];

        /// <summary>The column sums as a float32 tensor [width]; call after every worker has flushed.</summary>
        public Tensor ToTensor()
        {
            var sums = new float[width];
            for (int j = 0; j < width; j++)
                sums[j] = (float)accumulators.Sum(a => a.Totals[j]);
            return tensor(sums);
        }

        internal sealed class Accumulator(int width)
        {
            private readonly float[] partial = new float[width];
            private int rows;
            public double[] Totals { get; } = new double[width];

            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            public void Add(int column, Vector<float> values)
            {
                ref float at = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(partial), column);
                Vector.StoreUnsafe(Vector.LoadUnsafe(ref at) + values, ref at);
            }

            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            public void Add(int column, float value) => partial[column] += value;

            public void EndRow()
            {
                if (++rows == RowsPerPartial)
                    Flush();
            }

            public void Flush()
            {
                for (int j = 0; j < partial.Length; j++)
                    Totals[j] += partial[j];
                Array.Clear(partial);
                rows = 0;
            }
        }
    }
}
