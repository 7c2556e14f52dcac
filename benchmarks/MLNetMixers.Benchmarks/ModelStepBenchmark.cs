using MLNetMixers.Models;
using MLNetMixers.Training;
using static TorchSharp.torch;

namespace MLNetMixers.Benchmarks;

/// <summary>
/// The bare TorchSharp training step (tokens already in a tensor, AdamW) of the tabular and LM shapes: ms/step,
/// model FLOP/s as a share of the cores' FMA peak (<see cref="FmaPeak"/>) and of the sgemm peak, both measured in the
/// same interleaved rounds; the library's kernels' effect in the trainers' sharded step; the bfloat16 mode's speed-up;
/// and bfloat16's effect on the loss after training on real data.
/// Goals (issue 8, against the sgemm peak): tabular step >= 60%, LM step >= 80%.
/// </summary>
internal sealed class ModelStepBenchmark : IBenchmark
{
    public string Name => "ModelStep";

    public void Run(BenchmarkContext context)
    {
        TorchRuntime.EnsureAvailable();
        bool bf16 = BFloat16Training.HasInstructions(CPU);
        var shapes = context.Smoke ? [ModelShape.Tabular.Tiny(), ModelShape.LanguageModel.Tiny()] : new[] { ModelShape.Tabular, ModelShape.LanguageModel };
        // On a loaded shared machine: MLNETMIXERS_MODELSTEP_ROUNDS / _WARMUP shorten the rounds, MLNETMIXERS_MODELSTEP_LOSS=0 skips the loss comparison.
        int rounds = context.Smoke ? 1 : EnvironmentInt("MLNETMIXERS_MODELSTEP_ROUNDS") ?? 15;
        int warmup = context.Smoke ? 1 : EnvironmentInt("MLNETMIXERS_MODELSTEP_WARMUP") ?? 30;
        bool lossEffect = Environment.GetEnvironmentVariable("MLNETMIXERS_MODELSTEP_LOSS") != "0";
        int n = context.Smoke ? 64 : 2048;
        context.Log.WriteLine($"   expected ~7 min: per shape, {rounds} interleaved rounds of the FMA peak, sgemm and {(bf16 ? 7 : 6)} steps, then a real-data loss comparison");

        using var scope = NewDisposeScope();
        var a = randn(n, n);
        var b = randn(n, n);
        Action sgemm = () => { using var c = matmul(a, b); };
        // One FMA loop per torch thread, as the trainers run one shard per thread; about 35 ms per round on a Zen 4 core.
        var fma = new FmaPeak(get_num_threads(), context.Smoke ? 10_000 : 10_000_000);
        var rows = new List<IReadOnlyList<string>>();
        var peaks = new List<double>();
        var fmaPeaks = new List<double>();
        // Per shape, in rounds of their own (a training run has one model alive, and its worker threads): sgemm, the
        // trainers' step in fp32 (the goal's row), the same in bf16, one forward and backward over the whole batch on
        // libtorch's own threads (what the trainers did before DataParallelGradients), and the trainers' step cut into one
        // shard per thread (before the threads took shards in turn).
        foreach (var shape in shapes)
        {
            var (tokens, targets) = BareTrainer.RandomBatch(shape, seed: 1);
            int trainers = DataParallelGradients.DefaultShardsPerThread;
            // The fourth item picks the library's CPU kernels: all of them, the channel MLP on libtorch's GEMMs (panel GEMMs
            // off), libtorch's GELU and LayerNorm (the fused ones off), or none; what each gains in the trainers' step.
            const CpuKernelChoice all = CpuKernelChoice.All;
            var variants = (bf16
                    ? new[] { (false, false, trainers, all), (true, false, trainers, all), (false, false, trainers, CpuKernelChoice.PanelGemmsOnly),
                              (false, false, trainers, CpuKernelChoice.NoPanelGemms), (false, false, trainers, CpuKernelChoice.None), (false, true, 1, all), (false, false, 1, all) }
                    : [(false, false, trainers, all), (false, false, trainers, CpuKernelChoice.PanelGemmsOnly), (false, false, trainers, CpuKernelChoice.NoPanelGemms),
                       (false, false, trainers, CpuKernelChoice.None), (false, true, 1, all), (false, false, 1, all)])
                .Select(v => (BFloat16: v.Item1, OnePiece: v.Item2, ShardsPerThread: v.Item3, Kernels: v.Item4,
                              Trainer: new BareTrainer(shape, v.Item1, seed: 1, onePiece: v.Item2, shardsPerThread: v.Item3))).ToList();
            var actions = variants.Select(v => (Action)(() =>
            {
                using var kernels = CpuKernels.Use(v.Kernels);
                v.Trainer.Step(tokens, targets);
            })).Prepend(sgemm).Prepend(fma.Run).ToList();
            // 30 untimed rounds: the native heap grows to its working size over the first training steps (until then a
            // tabular step page-faults in megabytes of fresh memory and runs ~20% slower); a training run is thousands of steps.
            double[] seconds = BenchmarkContext.InterleavedMedianSeconds(actions, rounds, warmupRounds: warmup);
            double fmaPeak = fma.Flops / seconds[0] / 1e9;
            double peak = 2.0 * n * n * n / seconds[1] / 1e9;
            fmaPeaks.Add(fmaPeak);
            peaks.Add(peak);
            for (int i = 0; i < variants.Count; i++)
            {
                var (mode, onePiece, shardsPerThread, kernelChoice, trainer) = variants[i];
                double s = seconds[i + 2], fp32 = seconds[2];
                double gflops = shape.StepFlops / s / 1e9;
                string step = onePiece ? "one piece, libtorch's threads"
                    : $"{trainer.ShardCount(shape.Batch)} shard(s) on {get_num_threads()} thread(s){(shardsPerThread == trainers ? " (the trainers')" : ", one per thread")}"
                      + kernelChoice switch
                      {
                          CpuKernelChoice.NoPanelGemms => ", channel MLP on libtorch's GEMMs (the panel GEMMs off)",
                          CpuKernelChoice.PanelGemmsOnly => ", libtorch's GELU and LayerNorm (FusedGelu/FusedLayerNorm off)",
                          CpuKernelChoice.None => ", libtorch's operators only (every library kernel off)",
                          _ => "",
                      };
                string goal = i > 0 ? "" : shape.Causal ? "80%" : "60%";
                string relative = i == 0 ? "" : $"{fp32 / s:F2}x";
                rows.Add([shape.Name, shape.Describe(), mode ? "bf16" : "fp32", step, $"{shape.StepFlops / 1e9:F2}", $"{s * 1e3:F1}", $"{gflops:F1}",
                          $"{fmaPeak:F1}", $"{100 * gflops / fmaPeak:F0}%", $"{peak:F1}", $"{100 * gflops / peak:F0}%", goal, relative]);
                context.Log.WriteLine($"   {shape.Name} {(mode ? "bf16" : "fp32")} {step}: {s * 1e3:F1} ms/step, {gflops:F1} GFLOP/s, {100 * gflops / fmaPeak:F0}% of the FMA peak {fmaPeak:F0}, {100 * gflops / peak:F0}% of sgemm {peak:F0}");
                trainer.Dispose();
            }
        }

        context.Report.Note($"FMA peak ({fma.Describe()}, registers only: Benchmarks/FmaPeak.cs) in the same rounds: **{string.Join(" and ", fmaPeaks.Select(p => p.ToString("F1")))} GFLOP/s**; "
            + $"sgemm {n}^3 fp32: **{string.Join(" and ", peaks.Select(p => p.ToString("F1")))} GFLOP/s** ({get_num_threads()} torch threads). "
            + $"Per shape, median of {rounds} interleaved rounds (the FMA loop, sgemm, then each of the shape's steps once, per round), after {warmup} untimed rounds; each % is against that shape's rounds. "
            + "The FMA peak is the physical limit (no model step can exceed it); the sgemm column is MKL's large-GEMM speed, which the issue-8 goals were set against. "
            + "Model FLOPs = matmuls only: 3 · B · (L · (2·T²·d + 4·r·T·d²) + head), head = 2·T·d·outputs (tabular) or 2·T·d·V (LM); "
            + "see ModelShape in BareTraining.cs. Random token ids already in a tensor; AdamW (fp32 master weights in bf16 mode), gradient clipping, dropout 0. "
            + "The trainers' step (Training/DataParallelGradients.cs) sums the batch's gradient over shards (the step column says how many), computed by "
            + "worker threads, one per torch thread, each running torch on one thread and taking the next shard when it finishes one; \"one piece\" is one forward and backward over the whole batch with libtorch's intra-op threads. "
            + "The trainers' fp32 step runs each block's channel MLP on the library's panel GEMMs (Models/FusedChannelMlp.cs, PanelGemm.cs) and its LayerNorms on FusedLayerNorm "
            + "where torch computes on one thread (each shard's worker) and the CPU has AVX-512; the rows that name kernels are the same step with those kernels off for the whole step "
            + "(CpuKernels.Use): the panel GEMMs off (MKL's GEMMs and the fused bias + GELU kernel), libtorch's GELU and LayerNorm (FusedGelu and FusedLayerNorm off, panel GEMMs on), or every library kernel off. "
            + "Last column: speed against the trainers' fp32 step; its last row for each shape is the same step cut into one shard per thread.");
        context.Report.Table(["shape", "dims", "precision", "step", "GFLOP/step", "ms/step", "model GFLOP/s", "FMA peak", "% of FMA peak", "sgemm peak", "% of sgemm peak", "goal (sgemm)", "speed vs fp32 step"], rows);

        if (bf16)
        {
            var speeds = BFloat16Training.MeasureCpuMatmulSpeeds(context.Smoke ? 16 : 512, context.Smoke ? 1 : 5);
            context.Report.Note($"The trainers' check before bf16 training (BFloat16Training.CpuMatmulSpeeds: 512³ products on one thread, best of 5): "
                + $"bf16 {speeds.BFloat16Gflops:F1} against fp32 {speeds.Float32Gflops:F1} GFLOP/s, **{speeds.BFloat16Speedup:F2}x**; "
                + (speeds.BFloat16Speedup < 1 ? "below 1, so a trainer asked for MixerPrecision.BFloat16 here warns that it will train slower." : "at or above 1, so a trainer asked for MixerPrecision.BFloat16 trains without a warning."));
            if (lossEffect)
                LossEffect(context);
            else
                context.Report.Note("bf16's effect on the loss was not measured in this run (MLNETMIXERS_MODELSTEP_LOSS=0); the last measurement is in benchmarks/results/HISTORY.md.");
        }
        else
            context.Report.Note("This CPU has no AVX512-BF16/AMX: the bfloat16 mode was not measured.");
    }

    /// <summary>Trains fp32 and bf16 from the same initial weights on the same real batches and compares the losses.</summary>
    private static void LossEffect(BenchmarkContext context)
    {
        int tabularSteps = context.Smoke ? 2 : 200, lmSteps = context.Smoke ? 2 : 100;
        var rows = new List<IReadOnlyList<string>>();

        // Tabular: credit_data (binary), 80/20 split, batch 256.
        {
            using var scope = NewDisposeScope();
            string file = context.Smoke ? "penguins.csv" : "credit_data.csv";
            var (tokens, labels, length, vocabulary, classes) = RealBatches.Tabular(context.DatasetsFolder, file, context.Smoke ? "species" : "Status");
            long rowsTotal = tokens.shape[0], trainRows = rowsTotal * 4 / 5;
            var shape = ModelShape.Tabular with { SequenceLength = length, VocabularySize = vocabulary, Outputs = classes, Batch = context.Smoke ? 8 : 256 };
            if (context.Smoke)
                shape = shape with { Width = 8, Depth = 1 };
            // Each precision is trained from the same three seeds (initial weights, batch order, dropout) and reported as
            // mean ± standard deviation, so that one run's noise is not read as an effect of bf16.
            int[] seeds = context.Smoke ? [7] : [7, 8, 9];
            foreach (bool mode in new[] { false, true })
            {
                var trainLosses = new List<double>();
                var testLosses = new List<double>();
                var accuracies = new List<double>();
                foreach (int seed in seeds)
                {
                    using var seedScope = NewDisposeScope();
                    using var trainer = new BareTrainer(shape, mode, seed, learningRate: 1e-3, dropout: 0.1);
                    var order = new Random(seed + 4);
                    double lastLosses = 0;
                    for (int step = 0; step < tabularSteps; step++)
                    {
                        using var stepScope = NewDisposeScope();
                        var index = tensor(Enumerable.Range(0, shape.Batch).Select(_ => (long)order.NextInt64(trainRows)).ToArray());
                        float loss = trainer.Step(tokens.index_select(0, index), labels.index_select(0, index));
                        if (step >= tabularSteps - 20 || context.Smoke)
                            lastLosses += loss;
                    }
                    var testTokens = tokens.narrow(0, trainRows, rowsTotal - trainRows);
                    var testLabels = labels.narrow(0, trainRows, rowsTotal - trainRows);
                    testLosses.Add(trainer.Loss(testTokens, testLabels));
                    using (no_grad())
                    {
                        trainer.Model.eval();
                        accuracies.Add(trainer.Model.forward(testTokens).argmax(1).eq(testLabels).to(ScalarType.Float32).mean().item<float>());
                    }
                    trainLosses.Add(lastLosses / Math.Min(20, tabularSteps));
                }
                rows.Add([$"tabular, {file} ({classes} classes), seeds {string.Join(",", seeds)}", mode ? "bf16" : "fp32", tabularSteps.ToString(),
                          MeanSpread(trainLosses, "F4"), MeanSpread(testLosses, "F4"), MeanSpread(accuracies.Select(a => 100 * a).ToList(), "F1") + " %"]);
            }
        }

        // LM: fortunes.txt bytes, random windows, batch 16, T 256.
        {
            using var scope = NewDisposeScope();
            var corpus = RealBatches.TextBytes(context.DatasetsFolder, "fortunes.txt");
            int split = corpus.Length * 9 / 10;
            var train = corpus.AsSpan(0, split).ToArray();
            var test = corpus.AsSpan(split).ToArray();
            var shape = context.Smoke ? ModelShape.LanguageModel.Tiny() : ModelShape.LanguageModel;
            var (testTokens, testTargets) = RealBatches.LanguageModelBatch(test, 32, shape.SequenceLength, new Random(5));
            foreach (bool mode in new[] { false, true })
            {
                using var trainer = new BareTrainer(shape, mode, seed: 7, learningRate: 1e-3);
                var random = new Random(3);
                double lastLosses = 0;
                for (int step = 0; step < lmSteps; step++)
                {
                    using var stepScope = NewDisposeScope();
                    var (x, y) = RealBatches.LanguageModelBatch(train, shape.Batch, shape.SequenceLength, random);
                    float loss = trainer.Step(x, y);
                    if (step >= lmSteps - 20 || context.Smoke)
                        lastLosses += loss;
                }
                float testLoss = trainer.Loss(testTokens, testTargets);
                rows.Add(["LM, fortunes.txt (bytes)", mode ? "bf16" : "fp32", lmSteps.ToString(), $"{lastLosses / Math.Min(20, lmSteps):F4}", $"{testLoss:F4}", ""]);
            }
        }
        context.Report.Note("bf16's effect on the loss: fp32 and bf16 trained from the same initial weights on the same batches (AdamW lr 1e-3; tabular: mean ± standard deviation over three seeds). "
            + "Train loss = mean of the last 20 steps; held-out loss = cross-entropy on the last 20% of rows (tabular) or 32 windows of the last 10% of the corpus (LM).");
        context.Report.Table(["task", "precision", "steps", "train loss (last 20)", "held-out loss", "held-out accuracy"], rows);
    }

    private static int? EnvironmentInt(string name) => int.TryParse(Environment.GetEnvironmentVariable(name), out int value) && value > 0 ? value : null;

    private static string MeanSpread(IReadOnlyList<double> values, string format)
    {
        double mean = values.Average();
        double sd = values.Count > 1 ? Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1)) : 0;
        return $"{mean.ToString(format)} ± {sd.ToString(format)}";
    }
}
