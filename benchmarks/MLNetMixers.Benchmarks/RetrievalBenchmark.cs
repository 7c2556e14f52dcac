using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetMixers.Cli.Retrieval;

namespace MLNetMixers.Benchmarks;

/// <summary>
/// Summary -> description retrieval on the Debian package file: BM25 (Lucene.Net) and TF-IDF (FeaturizeText) against
/// masked mixer and transformer towers at matched weights after InfoNCE (and frozen language-model embeddings when a
/// language model is pretrained first), all on the same held-out pairs and candidates (the experiment the CLI's
/// retrieval command runs); then indexing speed and query latency over ~40k documents. Defaults: the issue's budget,
/// at most 30 minutes of training in total per architecture, the tokenizer's learning included. MLNETMIXERS_RETRIEVAL_* knobs
/// for exploration: MINUTES (InfoNCE minutes per architecture, default 29: the tokenizer's learning and encoding take the rest), TRANSFORMER_MINUTES, PRETRAIN
/// (language-model steps, default 0), TOKENIZER (subwords or characters), VOCABULARY, CONTEXT, WIDTH, DEPTH, BATCH,
/// LEARNING_RATE, TEMPERATURE, HARD_NEGATIVES (share), SYMMETRIC (1 or 0), DROPOUT, TOKEN_DROPOUT, THREADS, ARCHITECTURES (comma list), MEASURE_POOLING and LATENCY (0 turns them off).
/// </summary>
internal sealed class RetrievalBenchmark : IBenchmark
{
    public string Name => "Retrieval";

    public void Run(BenchmarkContext context)
    {
        bool smoke = context.Smoke;
        var ml = new MLContext(1);
        var (queries, documents) = Load(ml, Path.Combine(context.DatasetsFolder, "text", "debian-descriptions.csv"));
        int heldOut = smoke ? 24 : 1500;
        var order = Enumerable.Range(0, queries.Count).ToArray();
        new Random(1).Shuffle(order);
        if (smoke)
            order = order[..120];
        var testQ = order[..heldOut].Select(i => queries[i]).ToList();
        var testD = order[..heldOut].Select(i => documents[i]).ToList();
        var trainQ = order[heldOut..].Select(i => queries[i]).ToList();
        var trainD = order[heldOut..].Select(i => documents[i]).ToList();

        double minutes = smoke ? 0.02 : Knob("MINUTES", 29);
        var settings = new RetrievalExperimentSettings
        {
            Architectures = smoke ? [MixerLanguageModelArchitecture.MaskedMixer, MixerLanguageModelArchitecture.Transformer]
                : (Environment.GetEnvironmentVariable("MLNETMIXERS_RETRIEVAL_ARCHITECTURES") ?? "masked-mixer,transformer")
                    .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                    .Select(a => a == "transformer" ? MixerLanguageModelArchitecture.Transformer : MixerLanguageModelArchitecture.MaskedMixer).ToList(),
            PretrainSteps = smoke ? 2 : (int)Knob("PRETRAIN", 0),
            TrainTime = TimeSpan.FromMinutes(minutes),
            Tokenization = (Environment.GetEnvironmentVariable("MLNETMIXERS_RETRIEVAL_TOKENIZER") ?? "subwords") == "characters"
                ? TextTokenization.Characters : TextTokenization.Subwords,
            SubwordVocabularySize = smoke ? 300 : (int)Knob("VOCABULARY", 8192),
            ContextLength = smoke ? 32 : (int)Knob("CONTEXT", 160),
            Width = smoke ? 16 : (int)Knob("WIDTH", 256),
            Depth = smoke ? 1 : (int)Knob("DEPTH", 2),
            TransformerHeads = 4,
            BatchSize = smoke ? 8 : (int)Knob("BATCH", 64),
            LearningRate = Knob("LEARNING_RATE", 1e-2),
            Temperature = Knob("TEMPERATURE", 0.02),
            HardNegativeShare = Knob("HARD_NEGATIVES", 0),
            SymmetricLoss = Knob("SYMMETRIC", 0) != 0,
            Dropout = Knob("DROPOUT", 0),
            TokenDropout = Knob("TOKEN_DROPOUT", new MixerRetrievalOptions().TokenDropout),
            MeasurePooling = Knob("MEASURE_POOLING", 1) != 0,
            Threads = (int)Knob("THREADS", 2),
            Device = MixerDevice.Cpu,
            CandidateCounts = smoke ? [2, 8] : [32, 128, 1024],
            LatencyQueries = smoke ? 3 : 100,
        };
        if (Environment.GetEnvironmentVariable("MLNETMIXERS_RETRIEVAL_TRANSFORMER_MINUTES") is { Length: > 0 })
            settings.TrainTimeByArchitecture[MixerLanguageModelArchitecture.Transformer] = TimeSpan.FromMinutes(Knob("TRANSFORMER_MINUTES", minutes));
        // Exploratory runs skip the 40k-document indexing and latency section (MLNETMIXERS_RETRIEVAL_LATENCY=0).
        bool latency = smoke || Knob("LATENCY", 1) != 0;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var (methods, model) = RetrievalExperiment.Run(ml, trainQ, trainD, testQ, testD, settings, "Summary", "Description",
                                                       line => context.Log.WriteLine("   " + line), title => new StepLog(context, title));
        double totalMinutes = clock.Elapsed.TotalMinutes;
        using (model)
        {
            var ks = settings.CandidateCounts;
            context.Report.Note($"Debian package descriptions: {trainQ.Count:N0} (Summary, Description) pairs for training, {testQ.Count:N0} held out " +
                                $"(seeded shuffle), every method scored on the same held-out pairs and the same random candidates (top-1 among k: the " +
                                $"query's description and k - 1 others; recall@10 and MRR over all {testQ.Count:N0}). {TokensName(settings)}, n_ctx " +
                                $"{settings.ContextLength} (texts cut to their start), depth {settings.Depth}, masked mixer width {settings.Width}, the " +
                                $"transformer ({settings.TransformerHeads} heads) at the width that matches its block weights. " +
                                (settings.PretrainSteps > 0
                                    ? $"Language model: {settings.PretrainSteps} steps of 16 x {settings.ContextLength} tokens; InfoNCE from it: "
                                    : "InfoNCE from a fresh initialisation (no language model; the tokenizer's learning counts in train s): ") +
                                $"{Budgets(settings)}, in-batch negatives (batch {settings.BatchSize}" +
                                (settings.HardNegativeShare > 0 ? $", {settings.HardNegativeShare:P0} of it pairs with a lexical neighbour" : "") +
                                (settings.SymmetricLoss ? ", symmetric loss" : "") +
                                (settings.Dropout > 0 ? $", dropout {settings.Dropout}" : "") + (settings.TokenDropout > 0 ? $", token dropout {settings.TokenDropout}" : "") + $"), τ {settings.Temperature}, {ExperimentPooling(settings)} pooling, " +
                                $"AdamW {settings.LearningRate:G2}, all weights trained. {settings.Threads} torch thread(s) on a shared 2-core machine (" +
                                $"other jobs ran beside it): times are pessimistic. Whole run {totalMinutes:F1} min.");
            context.Report.Table(
                ["method", "weights", "train s", .. ks.Select(k => $"top-1 among {k}"), "recall@10", "MRR"],
                methods.Select(m => (IReadOnlyList<string>)[m.Name, m.Parameters == 0 ? "-" : $"{m.Parameters:N0}", m.TrainSeconds == 0 ? "-" : $"{m.TrainSeconds:F0}",
                    .. ks.Select(k => m.Metrics.TopOneAccuracy.TryGetValue(k, out double v) ? $"{v:P1}" : "-"),
                    $"{m.Metrics.RecallAt10:P1}", $"{m.Metrics.MeanReciprocalRank:F3}"]));

            TargetNotes(context, methods, settings);

            if (!latency)
                return;
            // Indexing and latency over (nearly) the whole file.
            int size = smoke ? 100 : Math.Min(40_000, documents.Count);
            var corpus = documents.Take(size).ToList();
            var sample = queries.Take(smoke ? 3 : 200).ToList();
            clock.Restart();
            var index = model.CreateIndex(corpus);
            double mixerIndexSeconds = clock.Elapsed.TotalSeconds;
            index.Search(sample[0], 10);
            double mixerMs = BenchmarkContext.Median(sample.Select(q => BenchmarkContext.Seconds(() => index.Search(q, 10), 1)[0] * 1000));
            var embedded = model.EmbedQueries(sample);
            double searchOnlyMs = BenchmarkContext.Median(sample.Select((_, i) =>
                BenchmarkContext.Seconds(() => index.Search(embedded.AsSpan(i * index.Dimension, index.Dimension), 10), 1)[0] * 1000));
            clock.Restart();
            using var bm25 = new Bm25Index(corpus);
            double bm25IndexSeconds = clock.Elapsed.TotalSeconds;
            bm25.Search(sample[0], 10);
            double bm25Ms = BenchmarkContext.Median(sample.Select(q => BenchmarkContext.Seconds(() => bm25.Search(q, 10), 1)[0] * 1000));
            context.Report.Note($"Indexing and top-10 search over {size:N0} documents (median over {sample.Count} queries, {TorchSharp.torch.get_num_threads()} torch thread(s): training's count is restored after it, same machine):");
            context.Report.Table(["method", "index documents/s", "ms per query"],
            [
                [$"{methods.First(m => m.Kind == "trained").Name} (embed query + scan {size:N0} x {index.Dimension} matrix)", $"{size / mixerIndexSeconds:N0}", $"{mixerMs:F2}"],
                ["  of which the matrix scan + top-10 (System.Numerics.Tensors dot products)", "-", $"{searchOnlyMs:F2}"],
                ["BM25 (Lucene.Net, in-memory index)", $"{size / bm25IndexSeconds:N0}", $"{bm25Ms:F2}"],
            ]);
        }
    }

    /// <summary>The issue's targets, read off this run's table.</summary>
    private static void TargetNotes(BenchmarkContext context, List<MethodResult> methods, RetrievalExperimentSettings settings)
    {
        const int K = 128;
        if (!settings.CandidateCounts.Contains(K))
            return;
        double Top(MethodResult m) => m.Metrics.TopOneAccuracy.TryGetValue(K, out double v) ? v : double.NaN;
        var bm25 = methods.First(m => m.Name.StartsWith("BM25", StringComparison.Ordinal));
        var tfidf = methods.First(m => m.Name.StartsWith("TF-IDF", StringComparison.Ordinal));
        var best = methods.Where(m => m.Kind != "baseline").MaxBy(Top)!;
        string Verdict(double a, double b) => a > b ? "met" : "NOT met";
        context.Report.Note($"Target (best mixer retriever beats BM25 and TF-IDF at top-1 among {K}): best is {best.Name} with {Top(best):P1} " +
                            $"against BM25 {Top(bm25):P1} ({Verdict(Top(best), Top(bm25))}) and TF-IDF {Top(tfidf):P1} ({Verdict(Top(best), Top(tfidf))}).");
        foreach (string kind in new[] { "frozen", "trained" })
        {
            var masked = methods.Where(m => m.Kind == kind && m.Name.StartsWith("masked-mixer", StringComparison.Ordinal)).MaxBy(Top);
            var transformer = methods.Where(m => m.Kind == kind && m.Name.StartsWith("transformer", StringComparison.Ordinal)).MaxBy(Top);
            if (masked is null || transformer is null)
                continue;
            context.Report.Note($"Masked mixer vs transformer, {kind} (best of each at top-1 among {K}): {Top(masked):P1} ({masked.Name}, {masked.Parameters:N0} weights) " +
                                $"vs {Top(transformer):P1} ({transformer.Name}, {transformer.Parameters:N0} weights): the " +
                                (Top(masked) > Top(transformer) ? "masked mixer is ahead." : Top(masked) < Top(transformer) ? "transformer is ahead." : "two tie."));
        }
    }

    /// <summary>Every 100th InfoNCE step in the log: how many steps the budget bought, and the loss.</summary>
    private sealed class StepLog(BenchmarkContext context, string title) : IProgress<RetrievalTrainingProgress>
    {
        public void Report(RetrievalTrainingProgress p)
        {
            if (p.Step % 100 == 0 || p.Fraction >= 1)
                context.Log.WriteLine($"   {title}: step {p.Step}, {p.Elapsed.TotalSeconds:F0} s, loss {p.Loss:F3}, {p.PairsPerSecond:F1} pairs/s");
        }
    }

    /// <summary>A numeric MLNETMIXERS_RETRIEVAL_* setting, or its default.</summary>
    private static double Knob(string name, double fallback)
        => Environment.GetEnvironmentVariable("MLNETMIXERS_RETRIEVAL_" + name) is { Length: > 0 } v
            ? double.Parse(v, System.Globalization.CultureInfo.InvariantCulture) : fallback;

    /// <summary>The InfoNCE minutes of each architecture, as the method note states them.</summary>
    private static string Budgets(RetrievalExperimentSettings s)
        => string.Join(", ", s.Architectures.Select(a => $"{s.TrainTimeByArchitecture.GetValueOrDefault(a, s.TrainTime).TotalMinutes:G3} min for the " +
                                                          RetrievalExperiment.ArchitectureName(a)));

    private static string TokensName(RetrievalExperimentSettings s)
        => s.Tokenization == TextTokenization.Subwords ? $"Byte-pair subword tokens (vocabulary {s.SubwordVocabularySize:N0}, learned from the training pairs)" : "Character tokens";

    private static string ExperimentPooling(RetrievalExperimentSettings s) => RetrievalExperiment.PoolingName(s.Pooling);

    /// <summary>The Summary and Description columns of the RFC 4180 file (quoted multi-line fields).</summary>
    private static (List<string> Queries, List<string> Documents) Load(MLContext ml, string path)
    {
        var data = ml.Data.LoadFromTextFile(path, new TextLoader.Options
        {
            Columns = [new TextLoader.Column("Summary", DataKind.String, 1), new TextLoader.Column("Description", DataKind.String, 2)],
            Separators = [','],
            HasHeader = true,
            AllowQuoting = true,
            ReadMultilines = true,
            TrimWhitespace = false,
        });
        var queries = MixerLanguageModelEstimator.ReadDocuments(data, "Summary");
        var documents = MixerLanguageModelEstimator.ReadDocuments(data, "Description");
        var keep = Enumerable.Range(0, queries.Count).Where(i => queries[i].Length > 0 && documents[i].Length > 0).ToArray();
        return (keep.Select(i => queries[i]).ToList(), keep.Select(i => documents[i]).ToList());
    }
}
