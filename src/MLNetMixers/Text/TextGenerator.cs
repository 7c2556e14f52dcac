using MLNetMixers.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetMixers.Text;

/// <summary>
/// Autoregressive generation. The context is [EOT] + prompt (the last n_ctx tokens of it). Each new token
/// costs one <see cref="LanguageModel.Step"/>, i.e. one row of every layer's mixing matrix. Past n_ctx the
/// window slides by re-prefilling the last n_ctx/2 tokens, then stepping again: positions stay within the
/// learned n_ctx x n_ctx matrices, and the re-prefill cost is spread over n_ctx/2 new tokens.
/// The naive mode recomputes the full forward over the very same context each step (the reference and benchmark baseline).
/// </summary>
internal static class TextGenerator
{
    /// <summary>The generated text, cut before the first stop sequence.</summary>
    public static string Generate(LanguageModel model, TextTokenizer tokenizer, string prompt, TextGenerationOptions options, Device device, bool incremental = true)
    {
        string text = tokenizer.Decode(GenerateTokens(model, tokenizer, prompt, options, device, incremental, out _));
        int stop = FindStop(text, options.StopSequences);
        return stop >= 0 ? text[..stop] : text;
    }

    /// <summary>
    /// The generated ids (end of text excluded; the last ones complete a stop sequence when one was met);
    /// <paramref name="stepLogits"/> has each step's logits when <paramref name="keepLogits"/> is set (tests).
    /// </summary>
    public static List<int> GenerateTokens(LanguageModel model, TextTokenizer tokenizer, string prompt, TextGenerationOptions options, Device device,
                                           bool incremental, out List<float[]> stepLogits, bool keepLogits = false)
    {
        options.Validate();
        int n = model.Config.ContextLength;
        var context = new List<int> { tokenizer.EndOfText };
        context.AddRange(tokenizer.Encode(prompt ?? ""));
        if (context.Count > n)
            context.RemoveRange(0, context.Count - n);

        var random = new Random(options.Seed);
        var generated = new List<int>();
        stepLogits = [];
        if (options.MaxNewTokens == 0)
            return generated;

        var caches = model.NewCaches();
        try
        {
            using var noGrad = no_grad();
            float[] logits = incremental ? Prefill(model, context, caches, device) : FullForward(model, context, device);
            while (true)
            {
                if (keepLogits)
                    stepLogits.Add(logits);
                int next = Sample(logits, options, random);
                if (next == tokenizer.EndOfText)
                    break;
                generated.Add(next);
                if (options.StopSequences.Length > 0 && FindStop(tokenizer.Decode(generated), options.StopSequences) >= 0)
                    break;
                if (generated.Count == options.MaxNewTokens)
                    break;

                bool full = context.Count == n;
                context.Add(next);
                if (full)
                    context.RemoveRange(0, context.Count - n / 2);
                if (!incremental)
                    logits = FullForward(model, context, device);
                else if (full)
                {
                    foreach (var cache in caches)
                        cache.Dispose();
                    caches = model.NewCaches();
                    logits = Prefill(model, context, caches, device);
                }
                else
                    logits = StepOne(model, next, caches, device);
            }
        }
        finally
        {
            foreach (var cache in caches)
                cache.Dispose();
        }
        return generated;
    }

    private static float[] Prefill(LanguageModel model, List<int> context, DecodingCache[] caches, Device device)
    {
        using var scope = NewDisposeScope();
        return model.Prefill(AsBatch(context, device), caches).to(CPU).data<float>().ToArray();
    }

    private static float[] StepOne(LanguageModel model, int token, DecodingCache[] caches, Device device)
    {
        using var scope = NewDisposeScope();
        return model.Step(tensor(new long[] { token }, [1, 1], device: device), caches).to(CPU).data<float>().ToArray();
    }

    private static float[] FullForward(LanguageModel model, List<int> context, Device device)
    {
        using var scope = NewDisposeScope();
        return model.forward(AsBatch(context, device))[0, -1].to(CPU).data<float>().ToArray();
    }

    private static Tensor AsBatch(List<int> tokens, Device device)
        => tensor(tokens.Select(t => (long)t).ToArray(), [1, tokens.Count], device: device);

    /// <summary>Index of the earliest stop sequence in <paramref name="text"/>, or -1.</summary>
    private static int FindStop(string text, string[] stops)
        => stops.Select(s => text.IndexOf(s, StringComparison.Ordinal)).Where(i => i >= 0).DefaultIfEmpty(-1).Min();

    /// <summary>Greedy at temperature 0; otherwise temperature, then top-k, then top-p, sampled on the CPU with the seeded generator.</summary>
    internal static int Sample(float[] logits, TextGenerationOptions options, Random random)
    {
        if (options.Temperature == 0)
        {
            int best = 0;
            for (int i = 1; i < logits.Length; i++)
                if (logits[i] > logits[best])
                    best = i;
            return best;
        }
        var order = Enumerable.Range(0, logits.Length).OrderByDescending(i => logits[i]).ThenBy(i => i).ToArray();
        int keep = options.TopK > 0 ? Math.Min(options.TopK, order.Length) : order.Length;
        double max = logits[order[0]];
        var weights = new double[keep];
        double total = 0;
        for (int r = 0; r < keep; r++)
            total += weights[r] = Math.Exp((logits[order[r]] - max) / options.Temperature);
        if (options.TopP < 1)
        {
            double cumulative = 0;
            for (int r = 0; r < keep; r++)
            {
                cumulative += weights[r] / total;
                if (cumulative >= options.TopP)
                {
                    keep = r + 1;
                    break;
                }
            }
            total = weights.Take(keep).Sum();
        }
        double u = random.NextDouble() * total;
        for (int r = 0; r < keep; r++)
        {
            u -= weights[r];
            if (u < 0)
                return order[r];
        }
        return order[keep - 1];
    }
}
