using MLNetMixers.Models;
using MLNetMixers.Training;
using static TorchSharp.torch;

namespace MLNetMixers.Benchmarks;

/// <summary>
/// Would the channel MLP train faster on row tiles that stay in cache? One block's channel half,
/// y = x + W2·GELU(W1·LN(x) + b1) + b2, forward and backward over one of the trainers' shards: as the model runs it,
/// against the same computed tile by tile with libtorch's matmuls and the library's kernels, the forward recomputed in
/// backward so that nothing of [rows, 4d] outlives a tile. Each on one thread alone, and on two threads at once (each
/// its own shard, as the trainers' worker threads run).
/// </summary>
/// <remarks>
/// ModelStep's profile puts half the tabular step outside the matmuls, in passes over [rows, 4d] activations that do
/// not stay in L2; this measures whether tiling at the level of torch operators wins that back.
/// </remarks>
internal sealed class ChannelMlpTilingBenchmark : IBenchmark
{
    public string Name => "ChannelMlpTiling";

    public void Run(BenchmarkContext context)
    {
        TorchRuntime.EnsureAvailable();
        int threadsBefore = get_num_threads();
        set_num_threads(1); // as each of the trainers' worker threads computes
        try
        {
            var rows = new List<IReadOnlyList<string>>();
            foreach (var (shape, tiles) in Cases(context.Smoke))
                Measure(context, shape, tiles, rows);
            context.Report.Note($"fp32, torch on one thread per computing thread; median of {(context.Smoke ? 1 : Rounds)} interleaved rounds of every row. "
                + "Rows: one shard of the trainers' step at 2 threads (batch / 4 rows of T positions), one block's channel half (LayerNorm, "
                + "Linear d -> 4d, GELU, Linear 4d -> d, residual), forward and backward with an upstream gradient. \"model\" is MixerBlock.ChannelMlp "
                + "under autograd, with the library's fused LayerNorm kernel and, since 2026-12-03, its panel GEMMs with bias and GELU in their "
                + "epilogues (Models/FusedChannelMlp.cs); \"libtorch's GEMMs\" is the same with MKL's GEMMs and the fused bias + GELU kernel (the "
                + "model before); \"tiles of n rows\" runs libtorch's GEMMs and the library's kernels on n rows "
                + "at a time (the forward again in backward, so 1/6 more matmul FLOPs than the model's), accumulating the weight gradients over tiles. "
                + "\"two threads at once\": each of two threads runs its own shard, started together; the time is until both finish. "
                + "Matmul GFLOP/s counts the channel half's model FLOPs (3 · 2 matmuls of 2·rows·d·4d each), not the tiles' recomputation. "
                + "Last column: largest difference of any gradient from the model's, relative to that gradient's largest element.");
            context.Report.Table(["shape", "rows", "variant", "one thread, ms", "matmul GFLOP/s", "speed vs model", "two threads at once, ms", "matmul GFLOP/s", "speed vs model", "gradient difference"], rows);
        }
        finally
        {
            set_num_threads(threadsBefore);
        }
    }

    private const int Rounds = 25;

    private static IEnumerable<(ModelShape Shape, int[] Tiles)> Cases(bool smoke) => smoke
        ? [(ModelShape.Tabular.Tiny(), [4])]
        : [(ModelShape.Tabular, [256, 1024, 2048]), (ModelShape.LanguageModel, [256, 512])];

    private static void Measure(BenchmarkContext context, ModelShape shape, int[] tiles, List<IReadOnlyList<string>> rows)
    {
        int shardRows = Math.Max(1, shape.Batch / (2 * DataParallelGradients.DefaultShardsPerThread)) * shape.SequenceLength;
        using var scope = NewDisposeScope();
        var shards = new[] { new Shard(shape, shardRows, seed: 1), new Shard(shape, shardRows, seed: 2) };
        var variants = new List<(string Name, Func<Shard, Tensor[]> Run)>
        {
            ("model", s => s.Model()),
            ("model, libtorch's GEMMs (panel GEMMs off)", s => KernelSwitches.WithoutPanelGemms(s.Model)),
        };
        variants.AddRange(tiles.Where(t => shardRows % t == 0 && t < shardRows).Select(t => ($"tiles of {t} rows", (Func<Shard, Tensor[]>)(s => s.Tiled(t)))));
        int n = context.Smoke ? 16 : 1024;
        var sgemm = shards.Select(_ => (A: randn(n, n), B: randn(n, n))).ToArray();

        // Per round: an sgemm on one thread, then two at once (the matmul yardstick), then each variant alone and two at once.
        var actions = new List<Action>
        {
            () => matmul(sgemm[0].A, sgemm[0].B).Dispose(),
            () => OnTwoThreads(sgemm, m => matmul(m.A, m.B).Dispose()),
        };
        foreach (var (_, run) in variants)
        {
            actions.Add(() => Discard(run(shards[0])));
            actions.Add(() => OnTwoThreads(shards, s => Discard(run(s))));
        }
        double[] seconds = BenchmarkContext.InterleavedMedianSeconds(actions, context.Smoke ? 1 : Rounds, context.Smoke ? 0 : 3);
        double sgemmGflops = 2.0 * n * n * n / 1e9;
        rows.Add([shape.Name, "", $"sgemm {n}^3 (the matmul yardstick)", $"{seconds[0] * 1e3:F2}", $"{sgemmGflops / seconds[0]:F1}", "",
            $"{seconds[1] * 1e3:F2}", $"{sgemmGflops / seconds[1]:F1} per thread", "", ""]);

        // Matmul FLOPs of the channel half, forward and backward: 3 · 2 matmuls · 2·rows·d·(r·d).
        double gflops = 12.0 * shardRows * shape.Width * shape.MlpRatio * shape.Width / 1e9;
        using var reference = NewDisposeScope();
        var expected = shards[0].Model();
        for (int v = 0; v < variants.Count; v++)
        {
            double difference = MaxRelativeDifference(variants[v].Run(shards[0]), expected);
            if (difference > 1e-3)
                throw new InvalidOperationException($"{variants[v].Name}: gradients differ from the model's by {difference:E2}");
            double alone = seconds[2 + 2 * v], together = seconds[3 + 2 * v];
            rows.Add([$"{shape.Name} d={shape.Width} r={shape.MlpRatio}", shardRows.ToString(), variants[v].Name,
                $"{alone * 1e3:F2}", $"{gflops / alone:F1}", $"{seconds[2] / alone:F2}x",
                $"{together * 1e3:F2}", $"{gflops / together:F1} per thread", $"{seconds[3] / together:F2}x", $"{difference:E1}"]);
            context.Log.WriteLine($"   {shape.Name} {variants[v].Name}: {alone * 1e3:F2} ms alone, {together * 1e3:F2} ms two at once");
        }
    }

    /// <summary>Runs <paramref name="work"/> on each item on a thread of its own, torch on one thread each, and waits for both.</summary>
    private static void OnTwoThreads<T>(T[] items, Action<T> work)
    {
        var threads = items.Select(item => new Thread(() =>
        {
            set_num_threads(1);
            work(item);
        })).ToArray();
        foreach (var thread in threads)
            thread.Start();
        foreach (var thread in threads)
            thread.Join();
    }

    private static void Discard(Tensor[] tensors)
    {
        foreach (var tensor in tensors)
            tensor.Dispose();
    }

    private static double MaxRelativeDifference(Tensor[] actual, Tensor[] expected)
    {
        double worst = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double scale = expected[i].abs().max().item<float>();
            double d = (actual[i] - expected[i]).abs().max().item<float>() / Math.Max(scale, 1e-12);
            worst = Math.Max(worst, d);
        }
        return worst;
    }

    /// <summary>One shard's input and upstream gradient, and one block whose channel half it runs through.</summary>
    private sealed class Shard
    {
        private readonly MixerBlock block;
        private readonly Tensor x;
        private readonly Tensor upstream;
        private readonly Tensor normWeight, normBias, expandWeight, expandBias, contractWeight, contractBias;

        public Shard(ModelShape shape, int rows, int seed)
        {
            random.manual_seed(seed);
            block = new MixerBlock(TokenMixers.Matrix(shape.SequenceLength, shape.Width, heads: 1, shape.Causal), shape.Width, shape.MlpRatio);
            var parameters = block.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter);
            (normWeight, normBias) = (parameters["channelNorm.weight"], parameters["channelNorm.bias"]);
            (expandWeight, expandBias) = (parameters["expand.weight"], parameters["expand.bias"]);
            (contractWeight, contractBias) = (parameters["contract.weight"], parameters["contract.bias"]);
            x = randn(rows, shape.Width).requires_grad_(true);
            upstream = randn(rows, shape.Width);
        }

        /// <summary>Gradients of x, γ, β, W1, b1, W2, b2 as the model computes them.</summary>
        public Tensor[] Model()
        {
            using var scope = NewDisposeScope();
            var y = x + block.ChannelMlp(x);
            var gradients = autograd.grad([y], [x, normWeight, normBias, expandWeight, expandBias, contractWeight, contractBias], [upstream]);
            return gradients.Select(g => g.DetachFromDisposeScope()).ToArray();
        }

        /// <summary>The same gradients, forward and backward tile by tile.</summary>
        public Tensor[] Tiled(int tile)
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            Forward(tile).Dispose(); // the output, as a training step would compute it before its backward
            return Backward(tile).Select(g => g.DetachFromDisposeScope()).ToArray();
        }

        private Tensor Forward(int tile)
        {
            var output = empty_like(x);
            var scratch = new Scratch(tile, x.shape[1], expandWeight.shape[0]);
            for (long start = 0; start < x.shape[0]; start += tile)
            {
                using var step = NewDisposeScope();
                var rows = x.narrow(0, start, tile);
                var hidden = scratch.Activate(rows, this);
                output.narrow(0, start, tile).copy_(rows).add_(contractBias).addmm_(hidden, contractWeight.t());
            }
            return output;
        }

        private Tensor[] Backward(int tile)
        {
            long width = x.shape[1], hiddenWidth = expandWeight.shape[0];
            var dx = empty_like(x);
            var (dNormWeight, dNormBias) = (zeros(width), zeros(width));
            var (dExpandWeight, dExpandBias) = (zeros(hiddenWidth, width), zeros(hiddenWidth));
            var dContractWeight = zeros(width, hiddenWidth);
            var scratch = new Scratch(tile, width, hiddenWidth);
            var dHidden = empty(tile, hiddenWidth);
            var dNormalized = empty(tile, width);
            for (long start = 0; start < x.shape[0]; start += tile)
            {
                using var step = NewDisposeScope();
                var (rows, dy) = (x.narrow(0, start, tile), upstream.narrow(0, start, tile));
                var hidden = scratch.Activate(rows, this);
                dContractWeight.addmm_(dy.t(), hidden);
                dExpandBias.add_(FusedGelu.Backward(mm(dy, contractWeight), scratch.Slope, dHidden));
                dExpandWeight.addmm_(dHidden.t(), scratch.Normalized);
                var (dGamma, dBeta) = FusedLayerNorm.Backward(mm(dHidden, expandWeight), normWeight, scratch.Standardized, scratch.InverseDeviation, dNormalized);
                dNormWeight.add_(dGamma);
                dNormBias.add_(dBeta);
                dx.narrow(0, start, tile).copy_(dNormalized).add_(dy);
            }
            var dContractBias = upstream.sum(dim: 0L); // a bare 0 would bind to sum(ScalarType): C#'s zero-to-enum conversion
            return [dx, dNormWeight, dNormBias, dExpandWeight, dExpandBias, dContractWeight, dContractBias];
        }

        /// <summary>One tile's LayerNorm and GELU outputs and what their backward passes need, reused tile after tile.</summary>
        private sealed class Scratch(long tile, long width, long hiddenWidth)
        {
            public Tensor Normalized { get; } = empty(tile, width);
            public Tensor Standardized { get; } = empty(tile, width);
            public Tensor InverseDeviation { get; } = empty(tile);
            public Tensor Hidden { get; } = empty(tile, hiddenWidth);
            public Tensor Slope { get; } = empty(tile, hiddenWidth);

            /// <summary>GELU(W1·LN(rows) + b1) into <see cref="Hidden"/>.</summary>
            public Tensor Activate(Tensor rows, Shard shard)
            {
                FusedLayerNorm.Forward(rows, shard.normWeight, shard.normBias, 1e-5, Normalized, Standardized, InverseDeviation);
                FusedGelu.Forward(mm(Normalized, shard.expandWeight.t()), shard.expandBias, Hidden, Slope);
                return Hidden;
            }
        }
    }
}
