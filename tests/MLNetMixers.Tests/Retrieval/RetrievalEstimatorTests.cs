using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetMixers.Retrieval;
using MLNetMixers.Tests.Text;
using static TorchSharp.torch;

namespace MLNetMixers.Tests.Retrieval;

/// <summary>The contrastive estimator, the embedding transform from a language model, and their model zips.</summary>
public class RetrievalEstimatorTests
{
    private sealed class PairRow
    {
        public string Summary { get; set; } = "";
        public string Description { get; set; } = "";
    }

    /// <summary>Pairs whose only link is a made-up name: retrieval has to learn which document holds the query's name.</summary>
    private static PairRow[] Pairs(int count, int seed = 0)
    {
        var random = new Random(seed);
        string[] fillers = ["provides tools for", "is a library for", "contains data files of", "is a game about", "helps to manage"];
        string[] topics = ["images", "sound", "networks", "fonts", "printing", "maps"];
        return Enumerable.Range(0, count).Select(i =>
        {
            string name = new(Enumerable.Range(0, 6).Select(_ => (char)('a' + random.Next(26))).ToArray());
            return new PairRow
            {
                Summary = $"{name} {topics[i % topics.Length]}",
                Description = $"{name} {fillers[random.Next(fillers.Length)]} {topics[i % topics.Length]}.",
            };
        }).ToArray();
    }

    private static MixerRetrievalOptions Tiny(MixerLanguageModelArchitecture architecture = MixerLanguageModelArchitecture.MaskedMixer) => new()
    {
        Architecture = architecture,
        // Characters: a fresh subword tower gives each made-up name a few tokens of its own, so its untrained
        // mean-pooled embeddings already match names and would not show what training learns.
        Tokenization = TextTokenization.Characters,
        ContextLength = 48,
        Width = 32,
        Depth = 2,
        Heads = architecture == MixerLanguageModelArchitecture.Transformer ? 2 : 1,
        BatchSize = 16,
        Steps = 120,
        WarmupSteps = 10,
        LearningRate = 3e-3,
        Temperature = 0.05,
        NumberOfThreads = 1,
        Device = MixerDevice.Cpu,
        Seed = 1,
    };

    [Theory]
    [InlineData(RetrievalNegatives.InBatch, false, 0, false, 0)]
    [InlineData(RetrievalNegatives.Sampled, true, 0, false, 0)]
    [InlineData(RetrievalNegatives.InBatch, false, 0.5, true, 0)]
    [InlineData(RetrievalNegatives.Sampled, false, 0.5, false, 0)]
    [InlineData(RetrievalNegatives.InBatch, false, 0, false, 0.1)]
    public void Brief_training_retrieves_memorised_pairs_far_above_chance(RetrievalNegatives negatives, bool separateTowers, double hardShare, bool symmetric,
                                                                          double dropout)
    {
        var ml = new MLContext(1);
        var pairs = Pairs(32);
        var data = ml.Data.LoadFromEnumerable(pairs);
        var options = Tiny();
        options.Negatives = negatives;
        options.SeparateTowers = separateTowers;
        options.HardNegativeShare = hardShare;
        options.SymmetricLoss = symmetric;
        options.Dropout = dropout;
        options.TokenDropout = dropout;
        options.Candidates = 8;
        options.BatchSize = negatives == RetrievalNegatives.Sampled ? 8 : 16;

        var queries = pairs.Select(p => p.Summary).ToArray();
        var documents = pairs.Select(p => p.Description).ToArray();
        var evaluation = new RetrievalEvaluationOptions { CandidateCounts = [32] };
        options.Steps = 1;
        using var untrained = ml.Transforms.Text.TrainMixerRetrieval(nameof(PairRow.Summary), nameof(PairRow.Description), options).Fit(data);
        double before = MixerRetrievalEvaluator.Evaluate(untrained, queries, documents, evaluation).TopOneAccuracy[32];
        options.Steps = 120;
        using var model = ml.Transforms.Text.TrainMixerRetrieval(nameof(PairRow.Summary), nameof(PairRow.Description), options).Fit(data);
        Assert.Equal(separateTowers, !model.SharedTowers);
        var metrics = MixerRetrievalEvaluator.Evaluate(model, queries, documents, evaluation);
        // Chance is 1/32 = 3 %.
        Assert.True(metrics.TopOneAccuracy[32] >= 0.5, $"top-1 among 32 after training {metrics.TopOneAccuracy[32]:P0} (before {before:P0})");
        Assert.True(metrics.TopOneAccuracy[32] > before + 0.25, $"top-1 among 32: {before:P0} -> {metrics.TopOneAccuracy[32]:P0}");
    }

    [Fact]
    public void Saves_and_loads_from_the_model_zip_with_the_same_embeddings_and_columns()
    {
        var ml = new MLContext(1);
        var pairs = Pairs(24);
        var data = ml.Data.LoadFromEnumerable(pairs);
        var options = Tiny();
        options.Steps = 5;
        options.SeparateTowers = true;
        using var model = ml.Transforms.Text.TrainMixerRetrieval(nameof(PairRow.Summary), nameof(PairRow.Description), options).Fit(data);
        string path = Path.Combine(TestData.NewTempFolder(), "retriever.zip");
        ml.Model.Save(model, data.Schema, path);
        var loaded = ml.Model.Load(path, out _);
        using var loadedRetriever = Assert.IsType<MixerEmbeddingTransformer>(loaded);
        Assert.False(loadedRetriever.SharedTowers);
        Assert.Equal(model.Pooling, loadedRetriever.Pooling);

        var texts = pairs.Select(p => p.Description).ToArray();
        Assert.Equal(model.EmbedDocuments(texts), loadedRetriever.EmbedDocuments(texts));
        Assert.Equal(model.EmbedQueries(texts), loadedRetriever.EmbedQueries(texts));
        Assert.NotEqual(model.EmbedQueries(texts), model.EmbedDocuments(texts));

        // As a pipeline step: both embedding columns, unit length, equal to the direct embeddings.
        var transformed = loaded.Transform(data);
        var rows = ml.Data.CreateEnumerable<EmbeddedRow>(transformed, reuseRowObject: false).ToArray();
        var direct = model.EmbedDocuments(texts);
        for (int i = 0; i < rows.Length; i++)
        {
            Assert.Equal(1.0, Math.Sqrt(rows[i].QueryEmbedding.Sum(x => (double)x * x)), 4);
            Assert.Equal(direct.AsSpan(i * model.Dimension, model.Dimension).ToArray(), rows[i].DocumentEmbedding);
        }

        // Documents alone (an index file) bind the document tower only.
        var documentsOnly = ml.Data.LoadFromEnumerable(pairs.Select(p => new DocumentRow { Description = p.Description }));
        var schema = loaded.Transform(documentsOnly).Schema;
        Assert.NotNull(schema.GetColumnOrNull("DocumentEmbedding"));
        Assert.Null(schema.GetColumnOrNull("QueryEmbedding"));
        var index = loadedRetriever.CreateIndex(documentsOnly);
        Assert.Equal(24, index.Count);
        Assert.Equal(pairs[3].Description, index.Search(direct.AsSpan(3 * model.Dimension, model.Dimension), 1)[0].Document);
    }

    [Fact]
    public void Subword_towers_from_scratch_learn_their_merges_from_both_columns_and_round_trip_through_the_zip()
    {
        var ml = new MLContext(1);
        var pairs = Pairs(24);
        var data = ml.Data.LoadFromEnumerable(pairs);
        var options = Tiny();
        options.Tokenization = TextTokenization.Subwords;
        options.SubwordVocabularySize = 270;
        options.Steps = 5;
        using var model = ml.Transforms.Text.TrainMixerRetrieval(nameof(PairRow.Summary), nameof(PairRow.Description), options).Fit(data);
        var tokenizer = model.QueryTower.Tokenizer;
        Assert.Equal(TextTokenization.Subwords, tokenizer.Kind);
        Assert.Equal(270, tokenizer.VocabularySize);            // 256 bytes, 13 merges, end of text: the option reaches the tokenizer
        // Merges were learned from the text: a frequent filler word takes fewer tokens than its bytes.
        Assert.True(tokenizer.Encode(" provides").Length < " provides".Length, "no merge learned for ' provides'");

        string path = Path.Combine(TestData.NewTempFolder(), "subword-retriever.zip");
        ml.Model.Save(model, data.Schema, path);
        using var loaded = Assert.IsType<MixerEmbeddingTransformer>(ml.Model.Load(path, out _));
        Assert.Equal(TextTokenization.Subwords, loaded.QueryTower.Tokenizer.Kind);
        var texts = pairs.Select(p => p.Description).Append("unseen wörds ünicode").ToArray();
        Assert.Equal(model.EmbedDocuments(texts), loaded.EmbedDocuments(texts));
        Assert.Equal(model.EmbedQueries(texts), loaded.EmbedQueries(texts));
    }

    private sealed class EmbeddedRow
    {
        public float[] QueryEmbedding { get; set; } = [];
        public float[] DocumentEmbedding { get; set; } = [];
    }

    private sealed class DocumentRow
    {
        public string Description { get; set; } = "";
    }

    [Theory]
    [InlineData(MixerLanguageModelArchitecture.MaskedMixer, EmbeddingPooling.Mean)]
    [InlineData(MixerLanguageModelArchitecture.ToeplitzMixer, EmbeddingPooling.LastToken)]
    [InlineData(MixerLanguageModelArchitecture.Transformer, EmbeddingPooling.EndOfText)]
    public void Any_language_model_embeds_a_text_column_and_padding_never_changes_an_embedding(MixerLanguageModelArchitecture architecture, EmbeddingPooling pooling)
    {
        var ml = new MLContext(1);
        var documents = TextTestHelpers.FortuneDocuments(40);
        var data = TextTestHelpers.AsDataView(ml, documents);
        var lmOptions = TextTestHelpers.TinyOptions(architecture);
        lmOptions.Steps = 3;
        using var lm = ml.Transforms.Text.TrainMixerLanguageModel("Text", lmOptions).Fit(data);
        using var embedder = ml.Transforms.Text.MixerEmbedding(lm, "Embedding", "Text", pooling).Fit(data);
        Assert.Equal(pooling, embedder.Pooling);
        Assert.Equal(architecture, embedder.Architecture);
        var column = embedder.Transform(data).Schema["Embedding"];
        Assert.Equal(new VectorDataViewType(NumberDataViewType.Single, 32), column.Type);

        // A short text alone and in a batch padded to a long one: the same vector (causal model, right padding).
        string shortText = "Short.", longText = documents.MaxBy(d => d.Length)!;
        var tower = embedder.QueryTower;
        using (no_grad())
        {
            var alone = tower.Embed([tower.Encode(shortText)]).data<float>().ToArray();
            var padded = tower.Embed([tower.Encode(longText), tower.Encode(shortText)])[1].data<float>().ToArray();
            for (int i = 0; i < alone.Length; i++)
                Assert.Equal(alone[i], padded[i], 4);
            Assert.Equal(1.0, Math.Sqrt(alone.Sum(x => (double)x * x)), 4);
        }

        // A downstream ML.NET step reads the column (k-means on the embeddings).
        var clusters = ml.Clustering.Trainers.KMeans("Embedding", numberOfClusters: 3);
        var pipeline = ml.Transforms.Text.MixerEmbedding(lm, "Embedding", "Text", pooling).Append(clusters);
        var predictions = pipeline.Fit(data).Transform(data);
        Assert.NotNull(predictions.Schema.GetColumnOrNull("PredictedLabel"));
    }

    [Fact]
    public void Starts_from_a_language_model_and_leaves_it_unchanged()
    {
        var ml = new MLContext(1);
        var pairs = Pairs(24);
        var data = ml.Data.LoadFromEnumerable(pairs);
        var corpus = TextTestHelpers.AsDataView(ml, pairs.SelectMany(p => new[] { p.Summary, p.Description }));
        var lmOptions = TextTestHelpers.TinyOptions();
        lmOptions.ContextLength = 48;
        lmOptions.Steps = 3;
        using var lm = ml.Transforms.Text.TrainMixerLanguageModel("Text", lmOptions).Fit(corpus);
        float before = lm.Evaluate(corpus, "Text").Loss is var l ? (float)l : 0;
        var options = Tiny();
        options.LanguageModel = lm;
        options.Steps = 10;
        using var model = ml.Transforms.Text.TrainMixerRetrieval(nameof(PairRow.Summary), nameof(PairRow.Description), options).Fit(data);
        Assert.Equal(lm.ParameterCount, model.ParameterCount);
        Assert.Equal(before, (float)lm.Evaluate(corpus, "Text").Loss);
    }

    [Fact]
    public void Cancellation_stops_between_steps_and_writes_a_checkpoint_that_training_resumes_from()
    {
        var ml = new MLContext(1);
        var data = ml.Data.LoadFromEnumerable(Pairs(24));
        string folder = TestData.NewTempFolder();
        using var cancellation = new CancellationTokenSource();
        var options = Tiny();
        options.Steps = 1000;
        options.LogInterval = 2;
        options.CheckpointFolder = folder;
        options.CancellationToken = cancellation.Token;
        var reports = new List<RetrievalTrainingProgress>();
        options.Progress = new Progress(p =>
        {
            reports.Add(p);
            if (p.Step >= 4)
                cancellation.Cancel();
        });
        Assert.Throws<OperationCanceledException>(() => ml.Transforms.Text.TrainMixerRetrieval(nameof(PairRow.Summary), nameof(PairRow.Description), options).Fit(data));
        Assert.True(File.Exists(Path.Combine(folder, "retrieval-checkpoint.bin")));
        Assert.InRange(reports.Count, 2, 3);

        var resumed = Tiny();
        resumed.Steps = 6;
        resumed.LogInterval = 1;
        resumed.CheckpointFolder = folder;
        var resumedReports = new List<RetrievalTrainingProgress>();
        resumed.Progress = new Progress(resumedReports.Add);
        using var model = ml.Transforms.Text.TrainMixerRetrieval(nameof(PairRow.Summary), nameof(PairRow.Description), resumed).Fit(data);
        Assert.Equal(reports[^1].Step + 1, resumedReports[0].Step);
        Assert.Equal(6, resumedReports[^1].Step);
    }

    [Fact]
    public void A_time_budget_ends_training_and_the_schedule_follows_it()
    {
        var ml = new MLContext(1);
        var data = ml.Data.LoadFromEnumerable(Pairs(24));
        var options = Tiny();
        options.Steps = 1_000_000;
        options.MaxTrainingTime = TimeSpan.FromSeconds(2);
        // No step-counted warm-up: on a loaded machine 2 s may not cover it, and the decay under test follows time.
        options.WarmupSteps = 0;
        options.LogInterval = 1;
        var reports = new List<RetrievalTrainingProgress>();
        options.Progress = new Progress(reports.Add);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var model = ml.Transforms.Text.TrainMixerRetrieval(nameof(PairRow.Summary), nameof(PairRow.Description), options).Fit(data);
        Assert.InRange(clock.Elapsed.TotalSeconds, 2, 30);
        Assert.Equal(1.0, reports[^1].Fraction, 6);
        Assert.True(reports[^1].LearningRate < options.LearningRate * 0.2, $"last learning rate {reports[^1].LearningRate}");
    }

    [Fact]
    public void Bad_columns_and_options_are_named()
    {
        var ml = new MLContext(1);
        var data = ml.Data.LoadFromEnumerable(Pairs(4));
        var missing = Assert.ThrowsAny<Exception>(() => ml.Transforms.Text.TrainMixerRetrieval("Summary", "Body", Tiny()).Fit(data));
        Assert.Contains("Body", missing.Message);
        var temperature = Tiny();
        temperature.Temperature = 0;
        Assert.Contains("Temperature", Assert.ThrowsAny<ArgumentException>(() => ml.Transforms.Text.TrainMixerRetrieval("Summary", "Description", temperature)).Message);
        var vocabulary = Tiny();
        vocabulary.Tokenization = TextTokenization.Subwords;
        vocabulary.SubwordVocabularySize = 100;
        Assert.Contains("SubwordVocabularySize", Assert.ThrowsAny<ArgumentException>(() => ml.Transforms.Text.TrainMixerRetrieval("Summary", "Description", vocabulary)).Message);
        var share = Tiny();
        share.HardNegativeShare = 1.5;
        Assert.Contains("HardNegativeShare", Assert.ThrowsAny<ArgumentException>(() => ml.Transforms.Text.TrainMixerRetrieval("Summary", "Description", share)).Message);
        var dropout = Tiny();
        dropout.Dropout = 1;
        Assert.Contains("Dropout", Assert.ThrowsAny<ArgumentException>(() => ml.Transforms.Text.TrainMixerRetrieval("Summary", "Description", dropout)).Message);
        var tokenDropout = Tiny();
        tokenDropout.TokenDropout = -0.1;
        Assert.Contains("TokenDropout", Assert.ThrowsAny<ArgumentException>(() => ml.Transforms.Text.TrainMixerRetrieval("Summary", "Description", tokenDropout)).Message);
        var tooFew = Tiny();
        tooFew.Negatives = RetrievalNegatives.Sampled;
        tooFew.Candidates = 8;
        Assert.Contains("at least 8", Assert.Throws<ArgumentException>(() => ml.Transforms.Text.TrainMixerRetrieval("Summary", "Description", tooFew).Fit(data)).Message);
    }

    private sealed class Progress(Action<RetrievalTrainingProgress> report) : IProgress<RetrievalTrainingProgress>
    {
        public void Report(RetrievalTrainingProgress value) => report(value);
    }
}
