using MLNetMixers.Models;
using MLNetMixers.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetMixers.Tests.Performance;

/// <summary>
/// The trainers' step: a batch's gradient summed over shards computed on worker threads equals the gradient of the
/// whole batch's mean loss, repeats bit for bit under a seed, and leaves torch's thread settings as they were.
/// </summary>
public class DataParallelGradientsTests
{
    private const int Rows = 37;  // uneven shards

    private static TabularMixer SmallMixer(double dropout)
    {
        random.manual_seed(21);
        var model = new TabularMixer(new TabularModelConfig(TabularArchitecture.Mixer, SequenceLength: 12, VocabularySize: 20, Outputs: 3, Width: 16, Depth: 2, MlpRatio: 2, Heads: 1, Dropout: dropout));
        model.train();
        return model;
    }

    private static (Tensor Tokens, Tensor Labels) Batch()
    {
        var generator = new Generator(5);
        return (randint(0, 20, [Rows, 12], dtype: ScalarType.Int64, generator: generator),
                randint(0, 3, [Rows], dtype: ScalarType.Int64, generator: generator));
    }

    private static (float Loss, Tensor[] Gradients) Sharded(TabularMixer model, TaskObjective objective, Tensor tokens, Tensor labels, int threads, ulong noiseSeed,
                                                            int minimumRowsPerShard = DataParallelGradients.TabularRowsPerShard)
    {
        var weights = model.parameters().ToArray();
        using var gradients = new DataParallelGradients(threads, minimumRowsPerShard);
        float loss = gradients.Compute((x, y) => objective.LossSum(model.forward(x), y), tokens, labels, objective.LossDenominator(labels), noiseSeed, weights, weights);
        return (loss, weights.Select(w => w.grad!.clone()).ToArray());
    }

    [Theory]
    [InlineData(false, DataParallelGradients.TabularRowsPerShard)]  // 2 shards, one per thread
    [InlineData(true, DataParallelGradients.TabularRowsPerShard)]
    [InlineData(false, 1)]  // 4 shards taken in turn by 2 threads
    public void GradientIsTheWholeBatchMeanLossGradient(bool classWeights, int minimumRowsPerShard)
    {
        using var scope = NewDisposeScope();
        using var model = SmallMixer(dropout: 0);
        var (tokens, labels) = Batch();
        float[]? weightsPerClass = classWeights ? [1f, 3f, 0.5f] : null;
        var objective = new MulticlassObjective(3, labelSmoothing: 0.1, weightsPerClass);

        var (loss, gradients) = Sharded(model, objective, tokens, labels, threads: 2, noiseSeed: 1, minimumRowsPerShard);

        model.zero_grad();
        using var weightTensor = weightsPerClass is null ? null : tensor(weightsPerClass);
        var whole = nn.functional.cross_entropy(model.forward(tokens), labels, weight: weightTensor, label_smoothing: 0.1);
        whole.backward();
        Assert.Equal(whole.item<float>(), loss, 5);
        var expected = model.parameters().Select(p => p.grad!).ToArray();
        for (int i = 0; i < expected.Length; i++)
        {
            double scale = expected[i].abs().max().item<float>();
            double error = (gradients[i] - expected[i]).abs().max().item<float>();
            Assert.True(error <= 1e-5 * Math.Max(scale, 1e-3), $"parameter {i}: largest difference {error:G3} against a largest gradient of {scale:G3}");
        }
    }

    [Theory]
    [InlineData(DataParallelGradients.TabularRowsPerShard)]
    [InlineData(1)]  // 4 shards: which thread takes which changes from run to run
    public void DropoutRepeatsUnderASeedWhateverTheThreadsDo(int minimumRowsPerShard)
    {
        using var scope = NewDisposeScope();
        using var model = SmallMixer(dropout: 0.3);
        var (tokens, labels) = Batch();
        var objective = new MulticlassObjective(3, 0, null);

        random.manual_seed(99);
        var (firstLoss, first) = Sharded(model, objective, tokens, labels, threads: 2, noiseSeed: 7, minimumRowsPerShard);
        var globalDraw = rand(4);
        random.manual_seed(99);
        var (againLoss, again) = Sharded(model, objective, tokens, labels, threads: 2, noiseSeed: 7, minimumRowsPerShard);
        var (otherSeedLoss, otherSeed) = Sharded(model, objective, tokens, labels, threads: 2, noiseSeed: 8, minimumRowsPerShard);

        // The masks come from the shards' own generators: torch's global one was not drawn from.
        random.manual_seed(99);
        Assert.True(allclose(globalDraw, rand(4), rtol: 0, atol: 0));
        Assert.Equal(firstLoss, againLoss);
        Assert.All(first.Zip(again), pair => Assert.True(allclose(pair.First, pair.Second, rtol: 0, atol: 0)));
        Assert.NotEqual(firstLoss, otherSeedLoss);
        Assert.Contains(first.Zip(otherSeed), pair => !allclose(pair.First, pair.Second, rtol: 1e-3, atol: 1e-5));
    }

    [Fact]
    public void WorkersComputeOnOneTorchThreadAndLeaveTheCallersSettingAlone()
    {
        int before = get_num_threads();
        set_num_threads(3);
        try
        {
            using var scope = NewDisposeScope();
            using var gradients = new DataParallelGradients(threads: 2);
            Assert.Equal(3, get_num_threads());
            int startedLater = 0;
            var thread = new Thread(() => startedLater = get_num_threads());
            thread.Start();
            thread.Join();
            Assert.Equal(3, startedLater);

            var weight = new Parameter(ones(3));
            var seen = new System.Collections.Concurrent.ConcurrentBag<int>();
            float loss = gradients.Compute((x, y) =>
            {
                seen.Add(get_num_threads());
                return (x * weight).sum() - y.sum();
            }, ones(16, 3), zeros(16), denominator: 16, noiseSeed: 1, [weight], [weight]);
            Assert.Equal(3f, loss, 5);
            Assert.Equal([1f, 1f, 1f], weight.grad!.data<float>().ToArray());
            Assert.Equal(2, seen.Count);
            Assert.All(seen, threads => Assert.Equal(1, threads));

            // Fewer than two shards' worth of rows: the calling thread computes them all, with its torch threads.
            seen.Clear();
            gradients.Compute((x, y) => { seen.Add(get_num_threads()); return (x * weight).sum(); }, ones(15, 3), zeros(15), denominator: 15, noiseSeed: 1, [weight], [weight]);
            Assert.Equal([3], seen);
        }
        finally
        {
            set_num_threads(before);
        }
    }

    [Theory]
    [InlineData(1, 256, 1)]    // no worker threads: the calling thread computes the batch
    [InlineData(2, 15, 1)]     // under one minimum per thread
    [InlineData(2, 16, 2)]
    [InlineData(2, 127, 2)]    // 4 shards would have under 4 minimums each
    [InlineData(2, 128, 4)]
    [InlineData(2, 256, 4)]
    [InlineData(3, 256, 6)]
    public void LargeBatchesGetTwoShardsPerThread(int threads, int rows, int expectedShards)
    {
        using var gradients = new DataParallelGradients(threads);
        Assert.Equal(expectedShards, gradients.ShardCount(rows));
    }

    [Fact]
    public void EveryShardIsComputedOnceWhicheverThreadTakesIt()
    {
        using var scope = NewDisposeScope();
        using var gradients = new DataParallelGradients(threads: 2, minimumRowsPerShard: 1);
        Assert.Equal(4, gradients.ShardCount(16));
        var weight = new Parameter(ones(1));
        var rowsSeen = new System.Collections.Concurrent.ConcurrentBag<float>();
        // 16 rows of values 0..15 in 4 shards: the loss is the sum of the rows each shard saw.
        float loss = gradients.Compute((x, y) =>
        {
            foreach (float value in x.data<float>().ToArray())
                rowsSeen.Add(value);
            return (x * weight).sum();
        }, arange(16f).unsqueeze(1), zeros(16), denominator: 1, noiseSeed: 1, [weight], [weight]);
        Assert.Equal(Enumerable.Range(0, 16).Select(i => (float)i), rowsSeen.Order());
        Assert.Equal(120f, loss, 3);
        Assert.Equal(120f, weight.grad!.item<float>(), 3);
        Assert.Equal(2, gradients.LastThreadSeconds.Length);
    }

    [Fact]
    public void AFailingShardThrowsOnTheCallingThreadAndTheWorkersCarryOn()
    {
        using var scope = NewDisposeScope();
        using var gradients = new DataParallelGradients(threads: 2);
        var weight = new Parameter(ones(2));
        var error = Assert.Throws<InvalidOperationException>(() => gradients.Compute(
            (x, y) => x.max().item<float>() == 15 ? throw new InvalidOperationException("row 15 is bad") : (x * weight).sum(),
            arange(16f).unsqueeze(1).expand(16, 2), zeros(16), denominator: 16, noiseSeed: 1, [weight], [weight]));
        Assert.Equal("row 15 is bad", error.Message);

        float loss = gradients.Compute((x, y) => (x * weight).sum(), ones(16, 2), zeros(16), denominator: 16, noiseSeed: 1, [weight], [weight]);
        Assert.Equal(2f, loss, 5);
    }

    [Fact]
    public void AStepLeavesNoNativeMemoryOfTheFusedKernelsNodesBehind()
    {
        Assert.True(CpuKernels.Apply, "the fused kernels run when torch computes on one thread, as in this test process");
        using var model = SmallMixer(dropout: 0);
        var objective = new MulticlassObjective(3, 0, null);
        var weights = model.parameters().ToArray();
        using var gradients = new DataParallelGradients(threads: 1);
        void Step()
        {
            using var scope = NewDisposeScope();
            var (tokens, labels) = Batch();
            gradients.Compute((x, y) => objective.LossSum(model.forward(x), y), tokens, labels, objective.LossDenominator(labels), noiseSeed: 1, weights, weights);
        }

        for (int i = 0; i < 5; i++)
            Step();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        const int steps = 100;
        for (int i = 0; i < steps; i++)
            Step();
        // What a full collection frees now is native memory the steps left to the collector; what the process keeps
        // for itself meanwhile (the JIT's recompiled code, libtorch's caches) is not counted.
        long held = NativeHeapInUse();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long leftToTheCollector = held - NativeHeapInUse();

        // Each step creates 6 nodes (2 blocks: 2 LayerNorms and a GELU each). Without the step's own collection, the
        // collection here freed 0.5 MB (the collector had run on its own now and then during the steps).
        Assert.True(leftToTheCollector < 64 * 1024,
            $"a collection after {steps} steps ({steps * 6} fused-kernel nodes) freed {leftToTheCollector / 1024} KB of glibc's heap");
    }

    /// <summary>Bytes glibc's malloc has handed out and not had back, over all arenas.</summary>
    private static long NativeHeapInUse() => (long)mallinfo2().InUse;

    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential)]
    private readonly struct MallInfo2
    {
        public readonly nuint Arena, FreeChunks, FastChunks, MappedRegions, MappedBytes, MaxTotalAllocated, FastFreeBytes;
        public readonly nuint InUse;
        public readonly nuint FreeBytes, TopReleasable;
    }

    [System.Runtime.InteropServices.DllImport("libc.so.6")]
    private static extern MallInfo2 mallinfo2();

    [Fact]
    public void SeededDropoutWithoutAGeneratorDrawsExactlyWhatTorchsDropoutDraws()
    {
        using var scope = NewDisposeScope();
        var x = randn(64, 33);
        using var torchDropout = nn.Dropout(0.25);
        using var seeded = new SeededDropout(0.25);
        torchDropout.train();
        seeded.train();
        random.manual_seed(3);
        var expected = torchDropout.forward(x);
        random.manual_seed(3);
        var actual = seeded.forward(x);
        Assert.True(allclose(expected, actual, rtol: 0, atol: 0));
        Assert.InRange(actual.eq(0).to(ScalarType.Float32).mean().item<float>(), 0.2f, 0.3f);

        seeded.eval();
        Assert.Same(x, seeded.forward(x));
    }
}
