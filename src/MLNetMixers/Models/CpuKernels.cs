using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetMixers.Models;

/// <summary>Which of the library's CPU kernels a thread uses (<see cref="CpuKernels.Use"/>).</summary>
internal enum CpuKernelChoice
{
    /// <summary>Every kernel where it applies: the default.</summary>
    All,

    /// <summary>The fused GELU and LayerNorm kernels, but the channel MLP on libtorch's GEMMs.</summary>
    NoPanelGemms,

    /// <summary>The channel MLP on the panel GEMMs, but libtorch's GELU and LayerNorm elsewhere.</summary>
    PanelGemmsOnly,

    /// <summary>libtorch's operators throughout.</summary>
    None,
}

/// <summary>Shared plumbing of the fused CPU kernels: when they run, raw addresses, and column sums.</summary>
internal static class CpuKernels
{
    /// <summary>
    /// Whether the fused kernels replace libtorch's operators: only when torch computes on one thread.
    /// </summary>
    /// <remarks>
    /// With more threads libtorch splits its own operators over its OpenMP workers; the kernels split over .NET's thread
    /// pool instead competed with OpenMP's spinning workers and made the step slower (benchmarks/results/Defaults.md#fused-kernels;
    /// their current effect in the trainers' step: benchmarks/results/ModelStep.md).
    /// </remarks>
    public static bool Apply => Choice != CpuKernelChoice.None && torch.get_num_threads() == 1;

    /// <summary>Whether the channel MLP may run on the panel GEMMs (<see cref="FusedChannelMlp"/>).</summary>
    public static bool PanelGemms => Choice is CpuKernelChoice.All or CpuKernelChoice.PanelGemmsOnly;

    /// <summary>Whether the fused GELU and LayerNorm kernels may run (<see cref="FusedGelu"/>, <see cref="FusedLayerNorm"/>).</summary>
    public static bool FusedElementwise => Choice is CpuKernelChoice.All or CpuKernelChoice.NoPanelGemms;

    [ThreadStatic]
    private static CpuKernelChoice threadChoice;

    /// <summary>The kernels this thread may use: <see cref="CpuKernelChoice.All"/> unless a <see cref="Use"/> scope says otherwise.</summary>
    internal static CpuKernelChoice Choice => threadChoice;

    /// <summary>
    /// Restricts the kernels this thread uses until the returned scope is disposed (the benchmarks' and tests'
    /// with/without comparisons). Per thread, so a comparison never changes what another thread's training runs;
    /// the gradient workers computing this thread's step take the caller's choice (DataParallelGradients).
    /// </summary>
    internal static IDisposable Use(CpuKernelChoice choice)
    {
        var previous = threadChoice;
        threadChoice = choice;
        return new Restore(previous);
    }

    private sealed class Restore(CpuKernelChoice previous) : IDisposable
    {
        public void Dispose() => threadChoice = previous;
    }

    private static long nodesSinceRelease;

    /// <summary>Counts one autograd node of a fused kernel (see <see cref="ReleaseAutogradNodes"/>).</summary>
    internal static void CountAutogradNode() => Interlocked.Increment(ref nodesSinceRelease);

    /// <summary>
    /// Frees the native memory TorchSharp still holds for the autograd nodes the kernels created since the last call,
    /// through a garbage collection; does nothing when they created none. The trainers call it after every step, the
    /// attributors after each call.
    /// </summary>
    /// <remarks>
    /// A TorchSharp custom autograd function keeps a few KB of native memory per node (its callbacks from libtorch into
    /// .NET) until the garbage collector collects the node's managed side, even after the node is disposed, and a
    /// training step allocates too little managed memory for the collector to run on its own for tens of steps. Those
    /// small blocks, scattered between the step's freed 1-4 MB activation buffers, keep glibc's heap from reusing the
    /// holes, so the process grew every step and page-faulted fresh memory. A generation-1 collection after each step
    /// costs about 1 % of a step and keeps the heap at its working size (benchmarks/results/Defaults.md#autograd-nodes).
    /// </remarks>
    public static void ReleaseAutogradNodes()
    {
        if (Interlocked.Exchange(ref nodesSinceRelease, 0) == 0)
            return;
        GC.Collect(1, GCCollectionMode.Forced, blocking: true);
        GC.WaitForPendingFinalizers();
    }

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

    /// <summary>
    /// Sums over rows per column (a bias or LayerNorm parameter gradient): float partial sums over blocks of rows,
    /// added into doubles, so sums over 10⁵ rows stay exact to float precision.
    /// </summary>
    internal sealed class ColumnSums(int width)
    {
        private const int RowsPerPartial = 64;
        private readonly float[] partial = new float[width];
        private readonly double[] totals = new double[width];
        private int rows;

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

        /// <summary>The column sums as a float32 tensor [width].</summary>
        public Tensor ToTensor()
        {
            Flush();
            return tensor(totals.Select(t => (float)t).ToArray());
        }

        private void Flush()
        {
            for (int j = 0; j < partial.Length; j++)
                totals[j] += partial[j];
            Array.Clear(partial);
            rows = 0;
        }
    }
}
