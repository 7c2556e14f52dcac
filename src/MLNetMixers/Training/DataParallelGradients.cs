using System.Runtime.ExceptionServices;
using MLNetMixers.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetMixers.Training;

/// <summary>
/// A batch's gradient as the sum of its shards' gradients, computed by worker threads (one per torch thread) that each
/// run torch on one thread:
/// <code>
///   ∇L(batch) = Σ_k ∇( Σ_{rows i in shard k} ℓ_i ) / denominator(batch)
/// </code>
/// </summary>
/// <remarks>
/// Why not one forward and backward over the whole batch on libtorch's own threads: a mixer's operators are small (the
/// channel MLP's matmuls have K = d = 64 at the tabular shape) and between them come LayerNorm, GELU and residual adds,
/// so libtorch's intra-op parallelism keeps stopping and restarting its team, and the fused kernels (Models/CpuKernels.cs)
/// only run on one thread. Each thread here runs its whole shard, the fused kernels included, and the threads meet once
/// per step. benchmarks/results/ModelStep.md compares the two at the benchmark shapes.
/// <para>
/// A large batch is cut into <see cref="DefaultShardsPerThread"/> shards per thread, and each thread takes the next shard when it
/// finishes one. Equal shards on equal threads do not finish together (one thread of a step is often well behind the
/// other, either one), and a stalled thread stalls the whole step; with two shards per thread the other thread takes
/// over the slow one's second shard. Very small shards cost more in fixed dispatch than they save, hence the floor of
/// <see cref="RowsPerExtraShard"/> minimums. Measured in benchmarks/results/Defaults.md#shards-per-thread.
/// </para>
/// <para>
/// Reproducible: each shard's dropout draws from a generator seeded by the step's noise seed and the shard's index
/// (<see cref="SeededDropout"/>), and the shards' gradients are added in the shards' order, whichever thread computed
/// them, so a seeded run repeats bit for bit on the same thread count.
/// </para>
/// </remarks>
internal sealed class DataParallelGradients : IDisposable
{
    /// <summary>
    /// The fewest tabular rows worth a thread: a shard's forward and backward pass costs about a hundred operator
    /// dispatches of a few microseconds each, against about a millisecond per row at the tabular benchmark shape on one thread.
    /// </summary>
    internal const int TabularRowsPerShard = 8;

    /// <summary>Shards per thread for a batch large enough that each has <see cref="RowsPerExtraShard"/> times the minimum rows.</summary>
    internal const int DefaultShardsPerThread = 2;

    /// <summary>How many minimums of rows each shard needs before a batch is cut into more shards than threads.</summary>
    internal const int RowsPerExtraShard = 4;

    private readonly Worker[] workers;
    private readonly int minimumRowsPerShard;
    private readonly int shardsPerThread;
    private bool disposed;

    /// <summary>
    /// Seconds each thread of the last <see cref="Compute"/> spent on its shards, from its start to finishing its last
    /// one (benchmarks/StepProfile reports them): the slowest minus the fastest is time a thread waited.
    /// </summary>
    internal double[] LastThreadSeconds { get; private set; } = [];

    /// <param name="threads">Worker threads: torch's thread count on the CPU; 1 computes on the calling thread (GPUs).</param>
    /// <param name="minimumRowsPerShard">The fewest rows worth a thread; smaller batches are split into fewer shards.</param>
    /// <param name="shardsPerThread">Shards per thread for large batches (1: the step before shards were taken in turn; benchmarks compare the two).</param>
    public DataParallelGradients(int threads, int minimumRowsPerShard = TabularRowsPerShard, int shardsPerThread = DefaultShardsPerThread)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(minimumRowsPerShard, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(shardsPerThread, 1);
        this.minimumRowsPerShard = minimumRowsPerShard;
        this.shardsPerThread = shardsPerThread;
        workers = threads == 1 ? [] : WorkerPool.Rent(threads);
    }

    /// <summary>
    /// Sets the gradient of every parameter of <paramref name="receivers"/> to the gradient of the batch's loss with
    /// respect to the matching parameter of <paramref name="differentiated"/>, and returns that loss.
    /// </summary>
    /// <param name="lossSum">The loss summed over a shard's rows, from its inputs and targets (run on the worker threads).</param>
    /// <param name="inputs">The batch's inputs, rows first.</param>
    /// <param name="targets">The batch's targets, rows first.</param>
    /// <param name="denominator">What the batch's summed loss is divided by (its rows, or its rows' class weights).</param>
    /// <param name="noiseSeed">Seeds each shard's dropout together with the shard's index.</param>
    /// <param name="differentiated">The weights the network computes with.</param>
    /// <param name="receivers">Where the gradients go: the same weights, or their float32 masters in bfloat16 training.</param>
    public float Compute(Func<Tensor, Tensor, Tensor> lossSum, Tensor inputs, Tensor targets, double denominator, ulong noiseSeed,
                         IReadOnlyList<Parameter> differentiated, IReadOnlyList<Parameter> receivers)
    {
        long rows = inputs.shape[0];
        int shards = ShardCount(rows);
        var sums = new Tensor?[shards][];
        var losses = new double[shards];
        var inputList = differentiated.Cast<Tensor>().ToList();

        var (kernels, fftThreshold) = (CpuKernels.Choice, ToeplitzTokenMixing.FftThreshold);
        void ComputeShard(int shard)
        {
            // The calling thread's code-path choices hold on the worker threads too.
            using var kernelChoice = CpuKernels.Use(kernels);
            using var fft = ToeplitzTokenMixing.UseFftThreshold(fftThreshold);
            using var scope = NewDisposeScope();
            long start = rows * shard / shards, count = rows * (shard + 1) / shards - start;
            using var generator = new Generator(Mix(noiseSeed, (ulong)shard));
            using var noise = SeededDropout.UseGenerator(generator);
            using var share = (1 / denominator).ToScalar();
            var loss = lossSum(inputs.narrow(0, start, count), targets.narrow(0, start, count)).mul(share);
            var gradients = autograd.grad([loss], inputList, allow_unused: true);
            losses[shard] = loss.item<float>();
            // bfloat16 gradients are added in float32.
            sums[shard] = gradients.Select(g => g is null || g.IsInvalid ? null
                : (g.dtype == ScalarType.Float32 ? g : g.to(ScalarType.Float32)).DetachFromDisposeScope()).ToArray();
        }

        var threadSeconds = new double[Math.Min(shards, Math.Max(1, workers.Length))];
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        // One shard (a GPU, one thread, or a batch too small to split) is computed on the calling thread with torch's own threads.
        if (shards == 1)
        {
            ComputeShard(0);
            threadSeconds[0] = System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds;
        }
        else
        {
            int next = -1;
            Worker.RunAll(workers[..threadSeconds.Length], thread =>
            {
                for (int shard = Interlocked.Increment(ref next); shard < shards; shard = Interlocked.Increment(ref next))
                    ComputeShard(shard);
                threadSeconds[thread] = System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds;
            });
        }
        LastThreadSeconds = threadSeconds;

        using var noGrad = no_grad();
        for (int i = 0; i < receivers.Count; i++)
        {
            Tensor? total = null;
            foreach (var sum in sums)
            {
                if (sum[i] is not { } part)
                    continue;
                if (total is null)
                {
                    total = part;
                }
                else
                {
                    total.add_(part);
                    part.Dispose();
                }
            }
            if (total is null || total.dtype == receivers[i].dtype)
            {
                receivers[i].grad = total;
            }
            else
            {
                using var cast = total.to(receivers[i].dtype);
                receivers[i].grad = cast;
            }
            total?.Dispose();
        }
        CpuKernels.ReleaseAutogradNodes();
        return (float)losses.Sum();
    }

    /// <summary>
    /// One shard per thread, or the constructor's shards per thread when each still gets <see cref="RowsPerExtraShard"/>
    /// times the minimum rows; fewer for a batch under one minimum per thread; 1 without worker threads.
    /// </summary>
    internal int ShardCount(long rows)
    {
        if (workers.Length == 0)
            return 1;
        long minimums = rows / minimumRowsPerShard;
        return shardsPerThread > 1 && minimums >= (long)shardsPerThread * RowsPerExtraShard * workers.Length
            ? shardsPerThread * workers.Length
            : (int)Math.Clamp(minimums, 1, workers.Length);
    }

    /// <summary>Hands the worker threads back to the pool (they keep running, parked, for the next training run).</summary>
    public void Dispose()
    {
        if (!disposed)
            WorkerPool.Return(workers);
        disposed = true;
    }

    /// <summary>SplitMix64 of the seed and the index: independent streams for neighbouring shards and steps.</summary>
    internal static ulong Mix(ulong seed, ulong index)
    {
        ulong z = seed + 0x9E3779B97F4A7C15UL * (index + 1);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>
    /// Worker threads outlive a training run. Each thread's malloc arena keeps the heap its shards grew, so the next run
    /// (the next fold, the next Fit) computes at full speed at once instead of page-faulting its activations in again
    /// over its first steps; a run takes idle workers and starts new ones only when none are idle.
    /// </summary>
    private static class WorkerPool
    {
        private static readonly Lock Gate = new();
        private static readonly Stack<Worker> Idle = new();
        private static int created;

        public static Worker[] Rent(int count)
        {
            var rented = new List<Worker>(count);
            lock (Gate)
            {
                while (rented.Count < count && Idle.TryPop(out var worker))
                    rented.Add(worker);
            }
            if (rented.Count < count)
            {
                // Each new thread sets torch to one thread for itself; torch's setter also changes the process default
                // that threads started later begin with, so the caller's count is set again afterwards.
                int callerThreads = get_num_threads();
                var started = Enumerable.Range(0, count - rented.Count).Select(_ => new Worker(Interlocked.Increment(ref created))).ToArray();
                foreach (var worker in started)
                    worker.Ready.Wait();
                set_num_threads(callerThreads);
                rented.AddRange(started);
            }
            return rented.ToArray();
        }

        public static void Return(Worker[] workers)
        {
            lock (Gate)
            {
                foreach (var worker in workers)
                    Idle.Push(worker);
            }
        }
    }

    /// <summary>A thread that runs torch on one thread and computes shards of each step when asked.</summary>
    private sealed class Worker
    {
        private readonly SemaphoreSlim start = new(0);
        private int index;
        private Action<int>? work;
        private CountdownEvent? finished;
        private ExceptionDispatchInfo? failure;

        public Worker(int number)
        {
            new Thread(Loop) { IsBackground = true, Name = $"MLNetMixers gradient worker {number}" }.Start();
        }

        public ManualResetEventSlim Ready { get; } = new();

        /// <summary>Runs <paramref name="compute"/>(i) on worker i, for every worker, and waits; rethrows the first failure.</summary>
        public static void RunAll(Worker[] workers, Action<int> compute)
        {
            using var finished = new CountdownEvent(workers.Length);
            for (int i = 0; i < workers.Length; i++)
            {
                var worker = workers[i];
                worker.index = i;
                worker.work = compute;
                worker.finished = finished;
                worker.failure = null;
                worker.start.Release();
            }
            finished.Wait();
            foreach (var worker in workers)
            {
                worker.work = null;
                worker.failure?.Throw();
            }
        }

        private void Loop()
        {
            // Reading the count first runs libtorch's once-per-thread initialisation, which would otherwise happen at the
            // first operator and reset this thread to the process default.
            get_num_threads();
            set_num_threads(1);
            Ready.Set();
            while (true)
            {
                start.Wait();
                try
                {
                    work!(index);
                }
                catch (Exception e)
                {
                    failure = ExceptionDispatchInfo.Capture(e);
                }
                finally
                {
                    finished!.Signal();
                }
            }
        }
    }
}
