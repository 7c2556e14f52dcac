using System.Diagnostics;
using Microsoft.ML;
using MLNetMixers.Models;
using MLNetMixers.Text;
using static TorchSharp.torch;

namespace MLNetMixers.Benchmarks;

/// <summary>
/// The structured recurrent mixer's claim (constant memory per sequence, so generation scales with the batch) against the
/// transformer with its key/value cache and the masked and Toeplitz mixers with theirs, through the library's batched
/// generator: tokens per second and cache bytes per sequence at several batch sizes and generated lengths, and the most
/// sequences each could hold in 4 GiB. Then what the recurrence costs in quality: held-out loss of the SRM beside the
/// masked mixer, each trained for the same wall-clock time on fortunes.
/// Grid and budgets: MLNETMIXERS_SRM_BATCHES (default "1,16,64,256"), MLNETMIXERS_SRM_LENGTHS ("256,1024,2048"),
/// MLNETMIXERS_SRM_RUN_SECONDS (each run stops at the first length past this time, default 30),
/// MLNETMIXERS_SRM_TRAIN_SECONDS (training time per model, default 120).
/// </summary>
internal sealed class SrmGenerationBenchmark : IBenchmark
{
    /// <summary>A run whose preallocated cache would pass this is not started (the machine is shared).</summary>
    private const long MaxCacheBytes = 3L << 29; // 1.5 GiB

    private const long Budget = 4L << 30; // the 4 GiB the concurrency column fills

    private static readonly MixerLanguageModelArchitecture[] Architectures =
    [
        MixerLanguageModelArchitecture.StructuredRecurrentMixer, MixerLanguageModelArchitecture.Transformer,
        MixerLanguageModelArchitecture.MaskedMixer, MixerLanguageModelArchitecture.ToeplitzMixer,
    ];

    public string Name => "SrmGeneration";

    public void Run(BenchmarkContext context)
    {
        Training.TorchRuntime.EnsureAvailable();
        BenchmarkContext.OnOneTorchThread(() =>
        {
            Speed(context);
            Quality(context);
        });
    }

    private static int[] Grid(string variable, string fallback)
        => (Environment.GetEnvironmentVariable(variable) ?? fallback).Split(',').Select(int.Parse).ToArray();

    private static int Heads(MixerLanguageModelArchitecture a)
        => a is MixerLanguageModelArchitecture.Transformer or MixerLanguageModelArchitecture.StructuredRecurrentMixer ? 4 : 1;

    private sealed class StopRun : Exception;

    private static void Speed(BenchmarkContext context)
    {
        bool smoke = context.Smoke;
        int[] batches = smoke ? [1, 3] : Grid("MLNETMIXERS_SRM_BATCHES", "1,16,64,256");
        int[] lengths = smoke ? [4, 8] : Grid("MLNETMIXERS_SRM_LENGTHS", "256,1024,2048");
        double runSeconds = smoke ? 60 : double.Parse(Environment.GetEnvironmentVariable("MLNETMIXERS_SRM_RUN_SECONDS") ?? "30");
        int width = smoke ? 16 : 128, depth = smoke ? 1 : 4;
        const string prompt = "Once up";                       // 8 tokens with the end of text before it
        int shortOnlyFrom = smoke ? 2 : 64;                    // larger batches run the shortest length only
        var tokenizer = new ByteTokenizer();
        var rows = new List<IReadOnlyList<string>>();
        var rates = new Dictionary<(MixerLanguageModelArchitecture, int, int), double>();
        var bytesPerSequence = new Dictionary<(MixerLanguageModelArchitecture, int), long>();
        var weights = new Dictionary<MixerLanguageModelArchitecture, long>();
        // Batch outer, model inner: the runs compared with each other are close in time on this shared machine.
        // n_ctx is the run's longest length + the prompt (no run slides its window); the generator preallocates every
        // cache to n_ctx rows, so the largest batches run only the shortest length, on models of that n_ctx (same seed).
        var models = new Dictionary<(MixerLanguageModelArchitecture, int), LanguageModel>();
        LanguageModel ModelFor(MixerLanguageModelArchitecture a, int n)
        {
            if (!models.TryGetValue((a, n), out var model))
            {
                model = new LanguageModel(new LanguageModelConfig(a, tokenizer.VocabularySize, n, width, depth, Heads(a), 4, 0));
                model.Initialize(seed: 1);
                using (no_grad())
                    model.named_parameters().Single(p => p.name == "head.bias").parameter[tokenizer.EndOfText] = -100f;
                model.eval();
                weights.TryAdd(a, model.ParameterCount);
                models[(a, n)] = model;
            }
            return model;
        }
        // The first runs of a process are slow (allocator, thread pool, kernels' first calls): warm every model up first.
        foreach (var architecture in Architectures)
            TextGenerator.GenerateTokensBatch(ModelFor(architecture, (batches[0] > shortOnlyFrom ? lengths.Min() : lengths.Max()) + 8), tokenizer, [prompt],
                                              [new TextGenerationOptions { MaxNewTokens = smoke ? 4 : 256, Temperature = 0 }], CPU, out _);
        foreach (int batch in batches)
        {
            int[] runLengths = batch > shortOnlyFrom ? lengths.Where(l => l == lengths.Min()).ToArray() : lengths;
            int runLength = runLengths.Max();
            foreach (var architecture in Architectures)
            {
                var model = ModelFor(architecture, runLength + 8);
                var prompts = Enumerable.Repeat(prompt, batch).ToArray();
                TextGenerationOptions[] greedy(int tokens) => [new TextGenerationOptions { MaxNewTokens = tokens, Temperature = 0 }];
                // Warm-up (and the cache's preallocated size, which every later step keeps).
                long allocated = 0;
                TextGenerator.GenerateTokensBatch(model, tokenizer, prompts, greedy(16), CPU, out _, batchSize: batch,
                                                  afterStep: caches => allocated = caches.Sum(c => c.AllocatedBytes));
                if (allocated > MaxCacheBytes)
                {
                    rows.Add([architecture.ToString(), batch.ToString(), "-", $"not run: its cache preallocates {allocated / (double)(1 << 30):F2} GiB (n_ctx rows), over the {MaxCacheBytes >> 20} MiB allowed on this shared machine", "", ""]);
                    context.Log.WriteLine($"   {architecture} batch {batch}: skipped ({allocated >> 20} MiB cache)");
                    continue;
                }
                var clock = Stopwatch.StartNew();
                int steps = 0;
                var reached = new List<int>();
                try
                {
                    TextGenerator.GenerateTokensBatch(model, tokenizer, prompts, greedy(runLength), CPU, out _, batchSize: batch, afterStep: caches =>
                    {
                        steps++;
                        int generated = steps + 1;   // the next token is sampled from this step's logits
                        if (!lengths.Contains(generated))
                            return;
                        double seconds = clock.Elapsed.TotalSeconds;
                        reached.Add(generated);
                        rates[(architecture, batch, generated)] = batch * (double)generated / seconds;
                        bytesPerSequence[(architecture, generated)] = caches.Sum(c => c.BytesInUse) / batch;
                        if (seconds > runSeconds)
                            throw new StopRun();
                    });
                }
                catch (StopRun)
                {
                }
                foreach (int length in runLengths)
                {
                    if (!reached.Contains(length))
                    {
                        rows.Add([architecture.ToString(), batch.ToString(), length.ToString(), $"not run (each run stops after {runSeconds:F0} s)", "", ""]);
                        continue;
                    }
                    long perSequence = bytesPerSequence[(architecture, length)];
                    rows.Add([architecture.ToString(), batch.ToString(), length.ToString(), $"{rates[(architecture, batch, length)]:N0}",
                              $"{perSequence:N0}", $"{Budget / perSequence:N0}"]);
                    context.Log.WriteLine($"   {architecture} batch {batch}, {length} tokens: {rates[(architecture, batch, length)]:N0} tokens/s, {perSequence:N0} bytes per sequence");
                }
            }
        }

        foreach (var model in models.Values)
            model.Dispose();
        int n = lengths.Max() + 8;
        rows = rows.OrderBy(r => Array.IndexOf(Architectures, Enum.Parse<MixerLanguageModelArchitecture>(r[0]))).ToList();

        context.Report.Note($"Untrained weights (speed does not depend on them), width {width}, depth {depth}, n_ctx {n} for the longest length (no run slides its window; batches above {shortOnlyFrom} run only {lengths.Min()} tokens, on a model of n_ctx {lengths.Min() + 8}, because the generator preallocates each cache to n_ctx rows), byte tokens, " +
                            $"greedy decoding with end of text suppressed; every sequence continues the same {prompt.Length}-character prompt. " +
                            $"SRM and transformer with 4 heads ({weights[Architectures[0]]:N0} and {weights[Architectures[1]]:N0} weights: matched to 10 %), " +
                            $"masked mixer ({weights[Architectures[2]]:N0}: its n_ctx² mixing weights cannot be matched at this n_ctx) and Toeplitz mixer " +
                            $"({weights[Architectures[3]]:N0}) with 1 head, each with its own decoding cache. One torch thread on a shared 2-core machine " +
                            "(other jobs were running: compare ratios within this table, not absolute figures). " +
                            "Tokens/s = batch x generated tokens / wall time from the start of the prefill to the step that gives the last token, in one run to the longest length, after every model has generated 256 tokens once " +
                            $"(shorter lengths are read off the same run); a run stops at the first length reached after {runSeconds:F0} s.");
        context.Report.Note("Bytes per sequence are measured from the caches' tensors at that length: the SRM's recurrent state (one vector per head per layer), " +
                            "or the rows the others' caches hold (keys and values; the mixers' normed inputs). The generator preallocates those caches " +
                            "to n_ctx rows, so today they take the n_ctx figure from the first token; the table gives what a cache growing on demand needs. " +
                            "'Sequences in 4 GiB' = 4 GiB / bytes per sequence: weights (shared) and the per-step activations of a batch are not counted.");
        context.Report.Table(["model", "batch", "generated tokens", "tokens/s", "cache bytes per sequence", "sequences in 4 GiB"], rows);

        var srm = MixerLanguageModelArchitecture.StructuredRecurrentMixer;
        var summary = new List<IReadOnlyList<string>>();
        foreach (int length in lengths)
        {
            string Ratio(MixerLanguageModelArchitecture other)
                => bytesPerSequence.TryGetValue((srm, length), out long s) && bytesPerSequence.TryGetValue((other, length), out long o) ? $"{o / (double)s:N0}x" : "-";
            string Speed(int batch)
                => rates.TryGetValue((srm, batch, length), out double s) && rates.TryGetValue((MixerLanguageModelArchitecture.Transformer, batch, length), out double t) ? $"{s / t:F1}x" : "-";
            summary.Add([length.ToString(), Ratio(MixerLanguageModelArchitecture.Transformer), Ratio(MixerLanguageModelArchitecture.MaskedMixer),
                         Ratio(MixerLanguageModelArchitecture.ToeplitzMixer), .. batches.Select(Speed)]);
        }
        context.Report.Note("SRM against the others at each generated length: concurrency ratio (sequences in the same memory; the paper reports 170x against " +
                            "transformers on vLLM) and throughput ratio against the transformer at each batch (target: at least 3x at batch 64 and 1,024 tokens).");
        context.Report.Table(["generated tokens", "concurrency vs transformer", "vs masked mixer", "vs Toeplitz", .. batches.Select(b => $"speed vs transformer, batch {b}")], summary);
    }

    private static void Quality(BenchmarkContext context)
    {
        bool smoke = context.Smoke;
        var (train, heldOut) = LanguageModelComparisonBenchmark.Fortunes(context);
        int heldOutCount = heldOut.Length;
        double budget = smoke ? 1 : double.Parse(Environment.GetEnvironmentVariable("MLNETMIXERS_SRM_TRAIN_SECONDS") ?? "120");
        int n = smoke ? 16 : 128, width = smoke ? 16 : 64, depth = smoke ? 1 : 4, tokensPerStep = smoke ? 32 : 2048;
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(train.Select(t => new TextRow { Text = t }));
        var rows = new List<IReadOnlyList<string>>();
        foreach (var architecture in new[] { MixerLanguageModelArchitecture.MaskedMixer, MixerLanguageModelArchitecture.StructuredRecurrentMixer })
        {
            MixerLanguageModelOptions Options(int steps)
                => LanguageModelComparisonBenchmark.Options(architecture, n, width, depth, Heads(architecture), tokensPerStep, steps);
            // Steps that fit the budget, from the speed of a short run of the same model.
            int probeSteps = smoke ? 1 : 20;
            var clock = Stopwatch.StartNew();
            ml.Transforms.Text.TrainMixerLanguageModel("Text", Options(probeSteps)).Fit(data).Dispose();
            int steps = Math.Max(1, (int)(budget / (clock.Elapsed.TotalSeconds / probeSteps)));
            clock.Restart();
            using var model = ml.Transforms.Text.TrainMixerLanguageModel("Text", Options(steps)).Fit(data);
            double seconds = clock.Elapsed.TotalSeconds;
            var metrics = model.Evaluate(heldOut);
            rows.Add([architecture.ToString(), Heads(architecture).ToString(), $"{model.ParameterCount:N0}", steps.ToString(), $"{seconds:F0}", $"{metrics.Loss:F3}", $"{metrics.BitsPerByte:F3}"]);
            context.Log.WriteLine($"   {architecture}: {steps} steps in {seconds:F0} s, held-out loss {metrics.Loss:F3}");
        }
        context.Report.Note($"Quality for the same wall-clock time (~{budget:F0} s each, steps chosen from a {(smoke ? 1 : 20)}-step probe run): character tokens of Debian fortunes, " +
                            $"the last {heldOutCount} held out, n_ctx {n}, width {width}, depth {depth}, {tokensPerStep} tokens per step, AdamW 2e-3 with warm-up and cosine decay, " +
                            "1 torch thread, CPU (shared machine).");
        context.Report.Table(["model", "heads", "weights", "steps", "train s", "held-out loss (nats/char)", "bits per byte"], rows);
    }
}
