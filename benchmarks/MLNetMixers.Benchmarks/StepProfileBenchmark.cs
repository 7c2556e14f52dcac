using MLNetMixers.Models;
using MLNetMixers.Training;
using static TorchSharp.torch;

namespace MLNetMixers.Benchmarks;

/// <summary>
/// Where the time of the fp32 tabular training step goes: the step split into forward, backward and optimizer, and
/// each operator of one mixer block timed forward + backward on its own at the benchmark shape, with the FLOP rate
/// of its matmuls. Explains the ModelStep section's utilisation figure.
/// </summary>
internal sealed class StepProfileBenchmark : IBenchmark
{
    public string Name => "StepProfile";

    public void Run(BenchmarkContext context)
    {
        TorchRuntime.EnsureAvailable();
        var shape = context.Smoke ? ModelShape.Tabular.Tiny() : ModelShape.Tabular;
        int rounds = context.Smoke ? 1 : 15;
        long b = shape.Batch, t = shape.SequenceLength, d = shape.Width, r = shape.MlpRatio;

        using var scope = NewDisposeScope();
        var (tokens, targets) = BareTrainer.RandomBatch(shape, seed: 1);
        // The operator rows profile one forward and backward over the whole batch; the trainers split it into shards for their threads.
        using var trainer = new BareTrainer(shape, bfloat16: false, seed: 1, onePiece: true);
        using var sharded = new BareTrainer(shape, bfloat16: false, seed: 1);
        var parameters = trainer.Model.parameters().ToArray();
        var optimizer = new AdamWOptimizer(parameters, weightDecay: 0.01);

        // One block's operators, each forward + backward with an upstream gradient, at [B, T, d] (batch-first).
        var x = randn(b, t, d).requires_grad_();
        var hidden = randn(b, t, r * d).requires_grad_();
        var w = (randn(t, t) / Math.Sqrt(t)).requires_grad_();
        var mixBias = zeros(t, 1).requires_grad_();
        var norm = nn.LayerNorm(d);
        var expand = nn.Linear(d, r * d);
        var contract = nn.Linear(r * d, d);
        var xSequenceFirst = randn(t, b * d).requires_grad_();

        var parts = new List<(string Name, double Flops, Action Run)>
        {
            ("whole step (forward + backward + clip + AdamW), in one piece", shape.StepFlops, () => trainer.Step(tokens, targets)),
            ($"whole step, the trainers' way: {sharded.ShardCount(b)} shard(s) on {get_num_threads()} thread(s)", shape.StepFlops, () => sharded.Step(tokens, targets)),
            ("whole step, the trainers' way, channel MLP on libtorch's GEMMs (the panel GEMMs off)", shape.StepFlops, () => KernelSwitches.WithoutPanelGemms(() => sharded.Step(tokens, targets))),
            ("whole step with libtorch's GELU and LayerNorm (the library's fused kernels off)", shape.StepFlops, () => KernelSwitches.WithoutFusedKernels(() => trainer.Step(tokens, targets))),
            ("forward only", shape.StepFlops / 3, () => { using var s = NewDisposeScope(); trainer.Model.forward(tokens); }),
            ("forward + backward", shape.StepFlops, () =>
            {
                using var s = NewDisposeScope();
                trainer.Model.zero_grad();
                nn.functional.cross_entropy(trainer.Model.forward(tokens), targets).backward();
            }),
            ("clip + AdamW", 0, () => { nn.utils.clip_grad_norm_(parameters, 1.0); optimizer.Step(1e-3); }),
            ("LayerNorm [B,T,d], libtorch", 0, () => Backward(() => norm.forward(x), x)),
            ("LayerNorm [B,T,d], as the model runs it (fused kernel on one thread)", 0, () => Backward(() => FusedLayerNorm.Apply(norm, x), x)),
            ("token mixing bmm(W.expand(B), x) + bias [B,T,d]", 6.0 * b * t * t * d, () => Backward(() => TokenMixing.Mix(w, x, mixBias), x, w, mixBias)),
            ("token mixing bmm(W.expand(B), x), no bias", 6.0 * b * t * t * d, () => Backward(() => bmm(w.expand(b, t, t), x), x, w)),
            ("token mixing W·x, x stored [T, B·d] (sequence-first)", 6.0 * b * t * t * d, () => Backward(() => mm(w, xSequenceFirst), xSequenceFirst, w)),
            ("Linear d -> 4d", 6.0 * b * t * d * r * d, () => Backward(() => expand.forward(x), x)),
            ("GELU [B,T,4d]", 0, () => Backward(() => nn.functional.gelu(hidden), hidden)),
            ("Linear d -> 4d then GELU, libtorch", 6.0 * b * t * d * r * d, () => KernelSwitches.WithoutFusedKernels(() => { Backward(() => FusedGelu.OfLinear(expand, x), x); return 0; })),
            ("Linear d -> 4d then GELU, as the model runs it (fused bias + GELU kernel on one thread)", 6.0 * b * t * d * r * d, () => Backward(() => FusedGelu.OfLinear(expand, x), x)),
            ("Linear 4d -> d", 6.0 * b * t * d * r * d, () => Backward(() => contract.forward(hidden), hidden)),
            ("residual add [B,T,d]", 0, () => Backward(() => x + x, x)),
        };
        double[] seconds = BenchmarkContext.InterleavedMedianSeconds(parts.Select(p => p.Run).ToList(), rounds);
        double step = seconds[0];
        var rows = new List<IReadOnlyList<string>>();
        for (int i = 0; i < parts.Count; i++)
        {
            string rate = parts[i].Flops > 0 ? $"{parts[i].Flops / seconds[i] / 1e9:F1}" : "";
            rows.Add([parts[i].Name, $"{seconds[i] * 1e3:F2}", $"{100 * seconds[i] / step:F0}%", rate]);
            context.Log.WriteLine($"   {parts[i].Name}: {seconds[i] * 1e3:F2} ms {rate}");
        }
        context.Report.Note($"Tabular shape {shape.Describe()}, fp32, {get_num_threads()} torch thread(s); median of {rounds} interleaved rounds. "
            + "Operator rows: forward + backward of one operator of one block at the step's shape (a block has two LayerNorms, one token mixing, "
            + "both Linears, one GELU and two residual adds; the model has " + shape.Depth + " blocks). GFLOP/s counts matmul FLOPs only. "
            + "On one torch thread the model runs bias + GELU and LayerNorm through the library's fused CPU kernels (Models/FusedGelu.cs, "
            + "FusedLayerNorm.cs); with more threads it uses libtorch's own (CpuKernels.Apply says why), and the rows with and without them "
            + "time the same code. `MLNETMIXERS_BENCH_THREADS=1` measures the one-thread comparison. The trainers' step computes each shard on one "
            + "torch thread, where the channel MLP also runs on the library's panel GEMMs (Models/FusedChannelMlp.cs, with AVX-512); its row with "
            + "them off runs MKL's GEMMs and the fused bias + GELU kernel there instead.");
        context.Report.Table(["part", "ms", "share of the step", "matmul GFLOP/s"], rows);
        optimizer.Dispose();
        ReportShards(context, sharded, tokens, targets, context.Smoke ? 1 : 4 * rounds);
    }

    /// <summary>
    /// The sharded step split into its threads' work: each thread's time on its shards, the wait for the slowest, and
    /// what follows the shards on the calling thread (gradient sum, clip, AdamW).
    /// </summary>
    private static void ReportShards(BenchmarkContext context, BareTrainer sharded, Tensor tokens, Tensor targets, int steps)
    {
        var step = new List<double>();
        var fastest = new List<double>();
        var slowest = new List<double>();
        for (int i = 0; i < steps; i++)
        {
            long started = System.Diagnostics.Stopwatch.GetTimestamp();
            sharded.Step(tokens, targets);
            step.Add(System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds);
            fastest.Add(sharded.LastThreadSeconds.Min());
            slowest.Add(sharded.LastThreadSeconds.Max());
        }
        var after = step.Zip(slowest, (whole, thread) => whole - thread).ToList();
        var imbalance = slowest.Zip(fastest, (slow, fast) => slow - fast).ToList();
        string Ms(List<double> values) => $"{BenchmarkContext.Median(values) * 1e3:F1}";
        string Spread(List<double> values) => $"{values.Min() * 1e3:F1} to {values.Max() * 1e3:F1}";
        int shards = sharded.ShardCount(tokens.shape[0]);
        context.Report.Note($"The trainers' step over {steps} consecutive steps: median and range per step. The batch is cut into {shards} equal shards for "
            + $"{sharded.LastThreadSeconds.Count} threads; a thread takes the next shard when it finishes one, so the gap between the fastest and the "
            + "slowest thread is time one thread waits for the other (with one shard per thread it was a median 25 ms, 2026-12-02 06:17).");
        context.Report.Table(["part", "median ms", "range ms"],
        [
            ["whole step", Ms(step), Spread(step)],
            ["fastest thread (forward + backward of its shards)", Ms(fastest), Spread(fastest)],
            ["slowest thread", Ms(slowest), Spread(slowest)],
            ["slowest minus fastest thread", Ms(imbalance), Spread(imbalance)],
            ["after the slowest thread (hand-off, gradient sum, clip, AdamW)", Ms(after), Spread(after)],
        ]);
    }

    /// <summary>Backward of <paramref name="y"/> with a ones upstream gradient, then clears the inputs' gradients.</summary>
    private static void Backward(Func<Tensor> forward, params Tensor[] inputs)
    {
        using var scope = NewDisposeScope();
        var y = forward();
        y.backward([ones_like(y)]);
        foreach (var input in inputs)
            input.grad?.zero_();
    }
}
