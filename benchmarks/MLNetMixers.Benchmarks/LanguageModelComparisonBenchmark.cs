using System.Diagnostics;
using Microsoft.ML;
using MLNetMixers.Models;

namespace MLNetMixers.Benchmarks;

/// <summary>
/// The masked-mixer paper's comparison at small scale: masked mixer, Toeplitz mixer and a GPT-style transformer
/// with matched weight counts (the width of the latter two is chosen to match the masked mixer's count), trained
/// on the same character tokens (Debian fortunes) with the same windows, steps and optimiser through the public
/// estimator, at n_ctx 128 and 512; held-out loss side by side. Matching the masked mixer's n² mixing weights
/// makes the baselines wide at n_ctx 512, so a shorter run can be asked for:
/// MLNETMIXERS_LM_STEPS (default 200) and MLNETMIXERS_LM_CONTEXTS (default "128,512").
/// </summary>
internal sealed class LanguageModelComparisonBenchmark : IBenchmark
{
    public string Name => "LanguageModelComparison";

    public void Run(BenchmarkContext context)
    {
        bool smoke = context.Smoke;
        var (train, heldOut) = Fortunes(context);
        int heldOutCount = heldOut.Length;

        int[] contexts = smoke ? [16] : (Environment.GetEnvironmentVariable("MLNETMIXERS_LM_CONTEXTS") ?? "128,512").Split(',').Select(int.Parse).ToArray();
        int tokensPerStep = smoke ? 32 : 2048;
        int steps = smoke ? 2 : int.Parse(Environment.GetEnvironmentVariable("MLNETMIXERS_LM_STEPS") ?? "200");
        int baseWidth = smoke ? 16 : 64, depth = smoke ? 1 : 4;

        var ml = new MLContext(seed: 1);
        var trainData = ml.Data.LoadFromEnumerable(train.Select(t => new TextRow { Text = t }));
        int vocabulary = Text.CharacterTokenizer.Learn(train).VocabularySize;
        var rows = new List<IReadOnlyList<string>>();
        foreach (int n in contexts)
        {
            long target = Weights(MixerLanguageModelArchitecture.MaskedMixer, vocabulary, n, baseWidth, depth);
            foreach (var architecture in Enum.GetValues<MixerLanguageModelArchitecture>())
            {
                int heads = architecture is MixerLanguageModelArchitecture.Transformer or MixerLanguageModelArchitecture.StructuredRecurrentMixer ? 4 : 1;
                int width = architecture == MixerLanguageModelArchitecture.MaskedMixer
                    ? baseWidth
                    : Enumerable.Range(1, 4 * baseWidth / 4).Select(k => 4 * k)
                        .MinBy(w => Math.Abs(Weights(architecture, vocabulary, n, w, depth) - target));
                var options = Options(architecture, n, width, depth, heads, tokensPerStep, steps);
                var clock = Stopwatch.StartNew();
                using var model = ml.Transforms.Text.TrainMixerLanguageModel("Text", options).Fit(trainData);
                double seconds = clock.Elapsed.TotalSeconds;
                var metrics = model.Evaluate(heldOut);
                double tokensPerSecond = (double)options.BatchSize * n * steps / seconds;
                rows.Add([n.ToString(), architecture.ToString(), width.ToString(), $"{model.ParameterCount:N0}", $"{seconds:F0}",
                          $"{tokensPerSecond:N0}", $"{metrics.Loss:F3}", $"{metrics.BitsPerByte:F3}"]);
                context.Log.WriteLine($"   n_ctx {n} {architecture} (d {width}, {model.ParameterCount:N0} weights): held-out loss {metrics.Loss:F3} in {seconds:F0} s");
            }
        }
        context.Report.Note($"Character tokens (vocabulary {vocabulary}) of Debian fortunes: {train.Length} fortunes for training, the last {heldOutCount} held out. " +
                            $"Depth {depth}, {steps} steps of {tokensPerStep} tokens (batch = {tokensPerStep}/n_ctx) at random offsets (same windows for every model), " +
                            $"AdamW 2e-3 with warm-up and cosine decay, 1 torch thread, CPU. Widths of the Toeplitz mixer and the transformer (4 heads) " +
                            "are chosen to match the masked mixer's weight count.");
        context.Report.Table(["n_ctx", "model", "width", "weights", "train s", "train tokens/s", "held-out loss (nats/char)", "bits per byte"], rows);
    }

    /// <summary>Debian fortunes without backspace overstrikes: all but the last 300 for training (50 in smoke mode), those 300 held out (5).</summary>
    internal static (string[] Train, string[] HeldOut) Fortunes(BenchmarkContext context)
    {
        var fortunes = File.ReadAllText(Path.Combine(context.DatasetsFolder, "text", "fortunes.txt"))
            .Split("\n%\n", StringSplitOptions.RemoveEmptyEntries)
            .Where(f => !f.Any(c => c < ' ' && c is not '\n' and not '\t'))   // drop backspace overstrikes
            .ToArray();
        int heldOutCount = context.Smoke ? 5 : 300;
        return (context.Smoke ? fortunes[..50] : fortunes[..^heldOutCount], fortunes[^heldOutCount..]);
    }

    /// <summary>The comparison's training recipe: AdamW 2e-3, 10 % warm-up, cosine decay, one thread, CPU, seed 1.</summary>
    internal static MixerLanguageModelOptions Options(MixerLanguageModelArchitecture architecture, int n, int width, int depth, int heads, int tokensPerStep, int steps) => new()
    {
        Architecture = architecture,
        ContextLength = n,
        Width = width,
        Depth = depth,
        Heads = heads,
        BatchSize = Math.Max(1, tokensPerStep / n),
        Steps = steps,
        WarmupSteps = Math.Max(1, steps / 10),
        LearningRate = 2e-3,
        Seed = 1,
        NumberOfThreads = 1,
        Device = MixerDevice.Cpu,
        LogInterval = Math.Max(1, steps / 5),
    };

    private static long Weights(MixerLanguageModelArchitecture architecture, int vocabulary, int n, int width, int depth)
    {
        int heads = architecture is MixerLanguageModelArchitecture.Transformer or MixerLanguageModelArchitecture.StructuredRecurrentMixer ? 4 : 1;
        using var model = new LanguageModel(new LanguageModelConfig(architecture, vocabulary, n, width, depth, heads, 4, 0));
        return model.ParameterCount;
    }
}
