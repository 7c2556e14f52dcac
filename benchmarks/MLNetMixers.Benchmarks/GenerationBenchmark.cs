using MLNetMixers.Models;
using MLNetMixers.Text;
using static TorchSharp.torch;

namespace MLNetMixers.Benchmarks;

/// <summary>
/// Generation speed: tokens per second with incremental decoding (one row of each layer's mixing per token)
/// against naive recompute of the whole window per token, at n_ctx 128 and 512, for every architecture.
/// Untrained weights (speed does not depend on them); end of text is suppressed so every run makes the same
/// number of tokens; greedy decoding so sampling costs nothing.
/// </summary>
internal sealed class GenerationBenchmark : IBenchmark
{
    public string Name => "Generation";

    public void Run(BenchmarkContext context)
    {
        Training.TorchRuntime.EnsureAvailable();
        BenchmarkContext.OnOneTorchThread(() => RunSingleThreaded(context));
    }

    private void RunSingleThreaded(BenchmarkContext context)
    {
        int[] contexts = context.Smoke ? [16] : [128, 512];
        int width = context.Smoke ? 16 : 128, depth = context.Smoke ? 1 : 4;
        var tokenizer = new ByteTokenizer();
        var rows = new List<IReadOnlyList<string>>();
        foreach (int n in contexts)
        {
            foreach (var architecture in Enum.GetValues<MixerLanguageModelArchitecture>())
            {
                int heads = architecture is MixerLanguageModelArchitecture.Transformer or MixerLanguageModelArchitecture.StructuredRecurrentMixer ? 4 : 1;
                using var model = new LanguageModel(new LanguageModelConfig(architecture, tokenizer.VocabularySize, n, width, depth, heads, 4, 0));
                model.Initialize(seed: 1);
                using (no_grad())
                    model.named_parameters().Single(p => p.name == "head.bias").parameter[tokenizer.EndOfText] = -100f;
                model.eval();
                // From an empty prompt to the end of the window: the average position is n/2.
                var options = new TextGenerationOptions { MaxNewTokens = n - 1, Temperature = 0 };
                // Warm up on a few tokens, then time one run to the end of the window (naive recompute at n_ctx 512 takes minutes).
                var warmUp = new TextGenerationOptions { MaxNewTokens = 4, Temperature = 0 };
                double Measure(bool incremental)
                {
                    TextGenerator.GenerateTokens(model, tokenizer, "", warmUp, CPU, incremental, out _);
                    long start = System.Diagnostics.Stopwatch.GetTimestamp();
                    TextGenerator.GenerateTokens(model, tokenizer, "", options, CPU, incremental, out _);
                    return System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalSeconds;
                }
                double fast = Measure(incremental: true), slow = Measure(incremental: false);
                double fastRate = options.MaxNewTokens / fast, slowRate = options.MaxNewTokens / slow;
                rows.Add([n.ToString(), architecture.ToString(), $"{model.ParameterCount:N0}", $"{fastRate:N0}", $"{slowRate:N0}", $"{fastRate / slowRate:F1}x"]);
                context.Log.WriteLine($"   n_ctx {n} {architecture}: incremental {fastRate:N0} tokens/s, naive {slowRate:N0} tokens/s");
            }
        }
        context.Report.Note($"Batch 1, width {width}, depth {depth}, {get_num_threads()} torch thread(s), CPU; {(context.Smoke ? "smoke" : "n_ctx - 1")} new tokens from an empty prompt (after a short warm-up), one timed run each.");
        context.Report.Table(["n_ctx", "model", "weights", "incremental tokens/s", "naive recompute tokens/s", "speed-up"], rows);
    }
}
