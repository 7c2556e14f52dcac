using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetMixers.Cli.Retrieval;

/// <summary>What <see cref="RetrievalExperiment"/> trains and how.</summary>
internal sealed class RetrievalExperimentSettings
{
    /// <summary>Architectures compared; the first one's retriever is the model the experiment returns.</summary>
    public List<MixerLanguageModelArchitecture> Architectures = [MixerLanguageModelArchitecture.MaskedMixer];

    /// <summary>Language-model steps before contrastive training (frozen embeddings are evaluated after them); 0 trains from scratch.</summary>
    public int PretrainSteps = 0;

    /// <summary>InfoNCE time budget per architecture.</summary>
    public TimeSpan TrainTime = TimeSpan.FromMinutes(5);

    /// <summary>InfoNCE time budgets that replace <see cref="TrainTime"/> for some architectures (a baseline trained on a smaller budget).</summary>
    public Dictionary<MixerLanguageModelArchitecture, TimeSpan> TrainTimeByArchitecture = [];

    /// <summary>InfoNCE step limit per architecture (the time budget usually ends training first).</summary>
    public int TrainSteps = 100_000;

    /// <summary>Tokens of the towers (and of the language model they start from).</summary>
    public TextTokenization Tokenization = TextTokenization.Subwords;

    /// <summary>Vocabulary of <see cref="TextTokenization.Subwords"/> (bytes, learned merges, end of text).</summary>
    public int SubwordVocabularySize = 8192;

    /// <summary>Context length in tokens: texts are cut to their first ContextLength - 1 tokens.</summary>
    public int ContextLength = 160;
    public int Width = 256;
    public int Depth = 2;
    public int TransformerHeads = 4;
    public int BatchSize = 64;
    public double Temperature = 0.02;
    public double LearningRate = 1e-2;
    public RetrievalNegatives Negatives = RetrievalNegatives.InBatch;
    public int Candidates = 8;
    // The benchmark sets these; the CLI keeps the library's defaults.
    public double HardNegativeShare = new MixerRetrievalOptions().HardNegativeShare;
    public bool SymmetricLoss = new MixerRetrievalOptions().SymmetricLoss;
    public double Dropout = new MixerRetrievalOptions().Dropout;
    public double TokenDropout = new MixerRetrievalOptions().TokenDropout;
    public EmbeddingPooling Pooling = EmbeddingPooling.Mean;

    /// <summary>Also evaluate the frozen language model with every pooling (to choose the pooling by measurement).</summary>
    public bool MeasurePooling;

    public bool SeparateTowers;
    public int Seed = 1;
    public int? Threads;
    public MixerDevice Device = MixerDevice.Auto;
    public string? CheckpointFolder;
    public int[] CandidateCounts = [32, 128, 1024];

    /// <summary>Queries timed for the per-query latency.</summary>
    public int LatencyQueries = 100;
}

/// <summary>One retrieval method's held-out result.</summary>
internal sealed record MethodResult(string Name, string Kind, RetrievalMetrics Metrics, double TrainSeconds, long Parameters,
                                    double IndexDocumentsPerSecond, double MillisecondsPerQuery);

/// <summary>
/// Trains and evaluates every retrieval method on the same held-out pairs: BM25 and TF-IDF baselines, then per
/// architecture (widths matched in weights) the frozen language model's embeddings and the InfoNCE-trained retriever.
/// Shared by the <c>retrieval</c> command and the Retrieval benchmark.
/// </summary>
internal static class RetrievalExperiment
{
    public static (List<MethodResult> Methods, MixerEmbeddingTransformer Model) Run(
        MLContext mlContext, IReadOnlyList<string> trainQueries, IReadOnlyList<string> trainDocuments,
        IReadOnlyList<string> testQueries, IReadOnlyList<string> testDocuments, RetrievalExperimentSettings settings,
        string queryColumn, string documentColumn, Action<string> log, Func<string, IProgress<RetrievalTrainingProgress>?>? progress = null,
        Func<string, IProgress<LanguageModelTrainingProgress>?>? lmProgress = null, CancellationToken cancellation = default)
    {
        var evaluation = new RetrievalEvaluationOptions { CandidateCounts = settings.CandidateCounts, Seed = settings.Seed };
        int n = testQueries.Count;
        var results = new List<MethodResult>();
        void Add(MethodResult r)
        {
            results.Add(r);
            log($"{r.Name}: top-1 {string.Join(", ", r.Metrics.TopOneAccuracy.Select(p => $"among {p.Key} {p.Value:P1}"))}; recall@10 {r.Metrics.RecallAt10:P1}; MRR {r.Metrics.MeanReciprocalRank:F3}");
        }

        // Lexical baselines, indexed on the held-out documents.
        var clock = Stopwatch.StartNew();
        using (var bm25 = new Bm25Index(testDocuments))
        {
            double indexSeconds = clock.Elapsed.TotalSeconds;
            var metrics = MixerRetrievalEvaluator.Evaluate(n, (q, scores) => bm25.Scores(testQueries[q], scores), evaluation);
            double ms = Latency(settings, testQueries, q => bm25.Search(q, 10));
            Add(new MethodResult("BM25 (Lucene.Net)", "baseline", metrics, 0, 0, n / indexSeconds, ms));
        }
        cancellation.ThrowIfCancellationRequested();
        clock.Restart();
        var tfidf = new TfIdfIndex(mlContext, testDocuments);
        double tfidfIndexSeconds = clock.Elapsed.TotalSeconds;
        var featurized = tfidf.Featurize(testQueries).ToArray();
        Add(new MethodResult("TF-IDF word+char n-grams (FeaturizeText)", "baseline",
                             MixerRetrievalEvaluator.Evaluate(n, (q, scores) => tfidf.Scores(featurized[q], scores), evaluation), 0, 0, n / tfidfIndexSeconds,
                             Latency(settings, testQueries, q => { var s = new float[n]; tfidf.Scores(tfidf.Featurize([q]).First(), s); return MixerSearchIndex.TopK(s, 10); })));

        MixerEmbeddingTransformer? primary = null;
        // The retriever's input columns carry the data's own names, so the saved model reads the same CSV columns.
        var definition = SchemaDefinition.Create(typeof(Pair));
        definition[nameof(Pair.Query)].ColumnName = queryColumn;
        definition[nameof(Pair.Document)].ColumnName = documentColumn;
        var trainData = mlContext.Data.LoadFromEnumerable(trainQueries.Zip(trainDocuments, (q, d) => new Pair { Query = q, Document = d }), definition);
        foreach (var architecture in settings.Architectures)
        {
            cancellation.ThrowIfCancellationRequested();
            string name = ArchitectureName(architecture);
            bool transformer = architecture == MixerLanguageModelArchitecture.Transformer;
            int heads = transformer ? settings.TransformerHeads : 1;
            int width = architecture == MixerLanguageModelArchitecture.MaskedMixer
                ? settings.Width
                : MatchedWidth(architecture, heads, settings);
            log($"{name}: width {width}" + (width != settings.Width ? $" (matches the masked mixer's weights at width {settings.Width})" : ""));

            MixerLanguageModelTransformer? languageModel = null;
            double pretrainSeconds = 0;
            if (settings.PretrainSteps > 0)
            {
                var lmOptions = new MixerLanguageModelOptions
                {
                    Architecture = architecture, Tokenization = settings.Tokenization, SubwordVocabularySize = settings.SubwordVocabularySize,
                    ContextLength = settings.ContextLength, Width = width, Depth = settings.Depth, Heads = heads, BatchSize = 16, Steps = settings.PretrainSteps, WarmupSteps = Math.Max(1, settings.PretrainSteps / 10), LearningRate = 2e-3,
                    Seed = settings.Seed, NumberOfThreads = settings.Threads, Device = settings.Device, LogInterval = Math.Max(1, settings.PretrainSteps / 10),
                    Progress = lmProgress?.Invoke($"Language model ({name})"), CancellationToken = cancellation,
                };
                // Queries and documents as separate documents: each starts after an end of text, as the towers read them.
                var corpus = mlContext.Data.LoadFromEnumerable(trainQueries.Concat(trainDocuments).Select(t => new Pair { Query = t }));
                clock.Restart();
                languageModel = mlContext.Transforms.Text.TrainMixerLanguageModel(nameof(Pair.Query), lmOptions).Fit(corpus);
                pretrainSeconds = clock.Elapsed.TotalSeconds;
                var poolings = settings.MeasurePooling ? Enum.GetValues<EmbeddingPooling>() : [settings.Pooling];
                foreach (var pooling in poolings)
                {
                    using var frozen = mlContext.Transforms.Text.MixerEmbedding(languageModel, "Embedding", nameof(Pair.Query), pooling).Fit(corpus);
                    Add(Evaluate(frozen, $"{name} LM, frozen ({PoolingName(pooling)})", "frozen", pretrainSeconds, testQueries, testDocuments, settings, evaluation));
                }
            }

            var options = new MixerRetrievalOptions
            {
                LanguageModel = languageModel, Architecture = architecture, Tokenization = settings.Tokenization,
                SubwordVocabularySize = settings.SubwordVocabularySize, ContextLength = settings.ContextLength, Width = width, Depth = settings.Depth,
                Heads = heads, SeparateTowers = settings.SeparateTowers, Pooling = settings.Pooling, Temperature = settings.Temperature,
                Negatives = settings.Negatives, Candidates = settings.Candidates, HardNegativeShare = settings.HardNegativeShare, SymmetricLoss = settings.SymmetricLoss, Dropout = settings.Dropout, TokenDropout = settings.TokenDropout, BatchSize = settings.BatchSize, Steps = settings.TrainSteps,
                MaxTrainingTime = settings.TrainTimeByArchitecture.GetValueOrDefault(architecture, settings.TrainTime), LearningRate = settings.LearningRate, Seed = settings.Seed, NumberOfThreads = settings.Threads,
                Device = settings.Device, LogInterval = 10, CancellationToken = cancellation,
                CheckpointFolder = settings.CheckpointFolder is null ? null : Path.Combine(settings.CheckpointFolder, name),
                Progress = progress?.Invoke($"InfoNCE ({name})"),
            };
            clock.Restart();
            var retriever = mlContext.Transforms.Text.TrainMixerRetrieval(queryColumn, documentColumn, options).Fit(trainData);
            double seconds = clock.Elapsed.TotalSeconds;
            languageModel?.Dispose();
            Add(Evaluate(retriever, $"{name} InfoNCE" + (settings.PretrainSteps > 0 ? " from the LM" : " from scratch"), "trained",
                         pretrainSeconds + seconds, testQueries, testDocuments, settings, evaluation));
            if (primary is null)
                primary = retriever;
            else
                retriever.Dispose();
        }
        return (results, primary ?? throw new InvalidOperationException("No architecture to train."));
    }

    private static MethodResult Evaluate(MixerEmbeddingTransformer model, string name, string kind, double trainSeconds,
                                         IReadOnlyList<string> queries, IReadOnlyList<string> documents, RetrievalExperimentSettings settings,
                                         RetrievalEvaluationOptions evaluation)
    {
        var clock = Stopwatch.StartNew();
        var index = model.CreateIndex(documents);
        double indexSeconds = clock.Elapsed.TotalSeconds;
        var embedded = model.EmbedQueries(queries);
        int d = index.Dimension;
        var metrics = MixerRetrievalEvaluator.Evaluate(queries.Count, (q, scores) => index.Scores(embedded.AsSpan(q * d, d), scores), evaluation);
        double ms = Latency(settings, queries, q => index.Search(q, 10));
        return new MethodResult(name, kind, metrics, trainSeconds, model.ParameterCount, documents.Count / indexSeconds, ms);
    }

    /// <summary>Milliseconds per query of a top-10 search, over the first queries.</summary>
    private static double Latency<T>(RetrievalExperimentSettings settings, IReadOnlyList<string> queries, Func<string, T> search)
    {
        int count = Math.Min(settings.LatencyQueries, queries.Count);
        search(queries[0]);
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < count; i++)
            search(queries[i]);
        return clock.Elapsed.TotalMilliseconds / count;
    }

    public static string ArchitectureName(MixerLanguageModelArchitecture a) => a switch
    {
        MixerLanguageModelArchitecture.MaskedMixer => "masked-mixer",
        MixerLanguageModelArchitecture.ToeplitzMixer => "toeplitz-mixer",
        _ => "transformer",
    };

    public static string PoolingName(EmbeddingPooling p) => p switch
    {
        EmbeddingPooling.LastToken => "last token",
        EmbeddingPooling.Mean => "mean",
        _ => "end-of-text token",
    };

    /// <summary>The width (a multiple of the heads) whose weight count is closest to the masked mixer's at the settings' width.</summary>
    internal static int MatchedWidth(MixerLanguageModelArchitecture architecture, int heads, RetrievalExperimentSettings s)
    {
        long target = BlockWeights(MixerLanguageModelArchitecture.MaskedMixer, s.Width, 1, s.ContextLength);
        return Enumerable.Range(1, 4 * s.Width / heads).Select(k => k * heads)
            .MinBy(w => Math.Abs(BlockWeights(architecture, w, heads, s.ContextLength) - target));
    }

    /// <summary>Weights of the blocks (embeddings and head left out: the vocabulary is the same for every architecture).</summary>
    private static long BlockWeights(MixerLanguageModelArchitecture architecture, long d, int heads, long n)
    {
        long mlp = 2 * 4 * d * d + 4 * d + d + 4 * d;          // two linears with biases, two LayerNorms
        long mixing = architecture switch
        {
            MixerLanguageModelArchitecture.MaskedMixer => n * n + n,
            MixerLanguageModelArchitecture.ToeplitzMixer => heads * n + 2 * (d * d + d),
            _ => 4 * d * d + 4 * d,                              // q, k, v and output projections
        };
        return mlp + mixing;
    }

    private sealed class Pair
    {
        public string Query { get; set; } = "";
        public string Document { get; set; } = "";
    }
}
