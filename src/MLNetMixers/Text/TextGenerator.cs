using MLNetMixers.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetMixers.Text;

/// <summary>
/// Autoregressive generation. The context is [EOT] + prompt (the last n_ctx tokens of it). Each new token
/// costs one <see cref="LanguageModel.Step"/>, i.e. one row of every layer's mixing matrix (one recurrence step for the
/// structured recurrent mixer). Past n_ctx the window slides by re-prefilling the last n_ctx/2 tokens, then stepping
/// again: every architecture's weights are indexed by absolute position (position embedding, masked rows, the SRM's
/// w_t and b_t), so positions stay below n_ctx, and the re-prefill cost is spread over n_ctx/2 new tokens. For the
/// SRM the slide resets the recurrent state and rebuilds it from those n_ctx/2 tokens.
/// Many prompts decode at once in lockstep: every sequence of a batch is at the same position, so one Step serves
/// them all. The common prefix length is prefilled in parallel; a sequence whose prompt is longer is fed its own
/// prompt tokens step by step (instead of sampled ones) until it reaches its end, so nothing is padded and each
/// sequence sees exactly its own context at its own absolute positions. Each sequence samples with its own seeded
/// generator, stop sequences and length, and leaves the batch when it finishes; a sequence therefore gets the
/// same logits (up to float rounding) and the same tokens whether it runs alone or in a batch.
/// The naive mode recomputes the full forward over the very same context each step (the reference and benchmark baseline).
/// </summary>
internal static class TextGenerator
{
    /// <summary>Sequences decoded together by <see cref="GenerateBatch"/> unless told otherwise.</summary>
    public const int DefaultBatchSize = 64;

    /// <summary>The generated text, cut before the first stop sequence.</summary>
    public static string Generate(LanguageModel model, TextTokenizer tokenizer, string prompt, TextGenerationOptions options, Device device, bool incremental = true)
        => CutAtStop(tokenizer.Decode(GenerateTokens(model, tokenizer, prompt, options, device, incremental, out _)), options);

    /// <summary>
    /// Continues every prompt, <paramref name="batchSize"/> sequences at a time, each with its own options
    /// (one entry per prompt, or a single entry for all). Texts are returned in the prompts' order.
    /// </summary>
    public static string[] GenerateBatch(LanguageModel model, TextTokenizer tokenizer, IReadOnlyList<string> prompts,
                                         IReadOnlyList<TextGenerationOptions> options, Device device, int batchSize = DefaultBatchSize)
    {
        var tokens = GenerateTokensBatch(model, tokenizer, prompts, options, device, out _, batchSize: batchSize);
        return tokens.Select((t, i) => CutAtStop(tokenizer.Decode(t), OptionsOf(options, i))).ToArray();
    }

    /// <summary>
    /// The generated ids (end of text excluded; the last ones complete a stop sequence when one was met);
    /// <paramref name="stepLogits"/> has each step's logits when <paramref name="keepLogits"/> is set (tests).
    /// </summary>
    public static List<int> GenerateTokens(LanguageModel model, TextTokenizer tokenizer, string prompt, TextGenerationOptions options, Device device,
                                           bool incremental, out List<float[]> stepLogits, bool keepLogits = false)
    {
        if (incremental)
        {
            var result = GenerateTokensBatch(model, tokenizer, [prompt], [options], device, out var logits, keepLogits);
            stepLogits = logits[0];
            return result[0];
        }
        return GenerateNaive(model, tokenizer, prompt, options, device, out stepLogits, keepLogits);
    }

    /// <summary>
    /// <see cref="GenerateTokens"/> for many prompts, decoded in lockstep batches of <paramref name="batchSize"/>.
    /// <paramref name="afterStep"/> (tests, benchmarks) sees the layers' caches after every decoding step.
    /// </summary>
    public static List<int>[] GenerateTokensBatch(LanguageModel model, TextTokenizer tokenizer, IReadOnlyList<string> prompts,
                                                  IReadOnlyList<TextGenerationOptions> options, Device device, out List<float[]>[] stepLogits,
                                                  bool keepLogits = false, int batchSize = DefaultBatchSize,
                                                  Action<IReadOnlyList<DecodingCache>>? afterStep = null)
    {
        if (options.Count != 1 && options.Count != prompts.Count)
            throw new ArgumentException($"Give one set of generation options for all prompts or one per prompt ({prompts.Count}), not {options.Count}.", nameof(options));
        if (batchSize < 1)
            throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "The batch size must be at least 1.");
        foreach (var o in options)
            o.Validate();
        var results = new List<int>[prompts.Count];
        stepLogits = new List<float[]>[prompts.Count];
        for (int first = 0; first < prompts.Count; first += batchSize)
        {
            var members = Enumerable.Range(first, Math.Min(batchSize, prompts.Count - first))
                .Select(i => new Sequence(Context(model, tokenizer, prompts[i]), OptionsOf(options, i)))
                .ToArray();
            DecodeLockstep(model, tokenizer, members, device, keepLogits, afterStep);
            for (int k = 0; k < members.Length; k++)
            {
                results[first + k] = members[k].Generated;
                stepLogits[first + k] = members[k].Logits;
            }
        }
        return results;
    }

    /// <summary>One sequence of a lockstep batch.</summary>
    private sealed class Sequence(List<int> context, TextGenerationOptions options)
    {
        public readonly List<int> Context = context;          // [EOT] + prompt, at most n_ctx tokens
        public readonly TextGenerationOptions Options = options;
        public readonly Random Random = new(options.Seed);
        public readonly List<int> Generated = [];
        public readonly List<float[]> Logits = [];
        public List<int> Window = [];                          // the tokens the caches hold, in order
        public int Fed;                                        // prompt tokens fed so far
    }

    private static void DecodeLockstep(LanguageModel model, TextTokenizer tokenizer, Sequence[] members, Device device, bool keepLogits,
                                       Action<IReadOnlyList<DecodingCache>>? afterStep)
    {
        int n = model.Config.ContextLength;
        var active = members.Where(s => s.Options.MaxNewTokens > 0).ToList();
        if (active.Count == 0)
            return;
        int common = active.Min(s => s.Context.Count);
        foreach (var s in active)
        {
            s.Window = s.Context.GetRange(0, common);
            s.Fed = common;
        }
        var caches = model.NewCaches();
        try
        {
            using var noGrad = no_grad();
            float[][] logits = Prefill(model, active.Select(s => s.Window).ToList(), caches, device);
            while (true)
            {
                var next = new int[active.Count];
                var keep = new List<int>();
                for (int r = 0; r < active.Count; r++)
                {
                    var s = active[r];
                    if (s.Fed < s.Context.Count)
                    {
                        next[r] = s.Context[s.Fed++];   // still inside its prompt: feed the prompt, sample nothing
                        keep.Add(r);
                        continue;
                    }
                    if (keepLogits)
                        s.Logits.Add(logits[r]);
                    next[r] = Sample(logits[r], s.Options, s.Random);
                    if (next[r] == tokenizer.EndOfText)
                        continue;
                    s.Generated.Add(next[r]);
                    if (s.Options.StopSequences.Length > 0 && FindStop(tokenizer.Decode(s.Generated), s.Options.StopSequences) >= 0)
                        continue;
                    if (s.Generated.Count == s.Options.MaxNewTokens)
                        continue;
                    keep.Add(r);
                }
                if (keep.Count == 0)
                    break;
                if (keep.Count < active.Count)
                {
                    using var rows = tensor(keep.Select(r => (long)r).ToArray());
                    foreach (var cache in caches)
                        cache.KeepRows(rows);
                }
                next = keep.Select(r => next[r]).ToArray();
                active = keep.Select(r => active[r]).ToList();

                // Every sequence holds the same number of positions, so all slide together.
                bool full = active[0].Window.Count == n;
                for (int r = 0; r < active.Count; r++)
                {
                    active[r].Window.Add(next[r]);
                    if (full)
                        active[r].Window.RemoveRange(0, active[r].Window.Count - n / 2);
                }
                if (full)
                {
                    foreach (var cache in caches)
                        cache.Dispose();
                    caches = model.NewCaches();
                    logits = Prefill(model, active.Select(s => s.Window).ToList(), caches, device);
                }
                else
                    logits = StepAll(model, next, caches, device);
                afterStep?.Invoke(caches);
            }
        }
        finally
        {
            foreach (var cache in caches)
                cache.Dispose();
        }
    }

    /// <summary>One full forward over the whole context per token: the reference for incremental decoding.</summary>
    private static List<int> GenerateNaive(LanguageModel model, TextTokenizer tokenizer, string prompt, TextGenerationOptions options, Device device,
                                           out List<float[]> stepLogits, bool keepLogits)
    {
        options.Validate();
        int n = model.Config.ContextLength;
        var context = Context(model, tokenizer, prompt);
        var random = new Random(options.Seed);
        var generated = new List<int>();
        stepLogits = [];
        if (options.MaxNewTokens == 0)
            return generated;
        using var noGrad = no_grad();
        float[] logits = FullForward(model, context, device);
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
            logits = FullForward(model, context, device);
        }
        return generated;
    }

    /// <summary>[EOT] + the prompt's tokens, the last n_ctx of them.</summary>
    private static List<int> Context(LanguageModel model, TextTokenizer tokenizer, string prompt)
    {
        int n = model.Config.ContextLength;
        var context = new List<int> { tokenizer.EndOfText };
        context.AddRange(tokenizer.Encode(prompt ?? ""));
        if (context.Count > n)
            context.RemoveRange(0, context.Count - n);
        return context;
    }

    private static TextGenerationOptions OptionsOf(IReadOnlyList<TextGenerationOptions> options, int i) => options.Count == 1 ? options[0] : options[i];

    private static string CutAtStop(string text, TextGenerationOptions options)
    {
        int stop = FindStop(text, options.StopSequences);
        return stop >= 0 ? text[..stop] : text;
    }

    /// <summary>Prefills equal-length windows, one per batch row; returns each row's last logits.</summary>
    private static float[][] Prefill(LanguageModel model, List<List<int>> windows, DecodingCache[] caches, Device device)
    {
        using var scope = NewDisposeScope();
        int length = windows[0].Count;
        var data = windows.SelectMany(w => w.Select(t => (long)t)).ToArray();
        return Rows(model.Prefill(tensor(data, [windows.Count, length], device: device), caches));
    }

    private static float[][] StepAll(LanguageModel model, int[] tokens, DecodingCache[] caches, Device device)
    {
        using var scope = NewDisposeScope();
        return Rows(model.Step(tensor(tokens.Select(t => (long)t).ToArray(), [tokens.Length, 1], device: device), caches));
    }

    /// <summary>[B, V] logits -> one float array per row.</summary>
    private static float[][] Rows(Tensor logits)
    {
        int batch = (int)logits.shape[0], vocabulary = (int)logits.shape[1];
        var all = logits.to(ScalarType.Float32).to(CPU).data<float>().ToArray();
        return Enumerable.Range(0, batch).Select(b => all.AsSpan(b * vocabulary, vocabulary).ToArray()).ToArray();
    }

    private static float[] FullForward(LanguageModel model, List<int> context, Device device)
    {
        using var scope = NewDisposeScope();
        return model.forward(tensor(context.Select(t => (long)t).ToArray(), [1, context.Count], device: device))[0, -1].to(CPU).data<float>().ToArray();
    }

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
