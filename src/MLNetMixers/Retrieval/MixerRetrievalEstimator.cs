using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNetMixers.Models;
using MLNetMixers.Retrieval;
using MLNetMixers.Text;
using MLNetMixers.Training;
using TorchSharp;

namespace MLNetMixers;

/// <summary>
/// Trains a retriever on (query, document) pairs with InfoNCE over cosine similarity, starting from a trained language
/// model or from scratch, and returns a <see cref="MixerEmbeddingTransformer"/> that embeds the query column and the
/// document column. Created by <c>mlContext.Transforms.Text.TrainMixerRetrieval</c>.
/// </summary>
public sealed class MixerRetrievalEstimator : IEstimator<MixerEmbeddingTransformer>
{
    private readonly IHost host;
    private readonly string queryColumnName;
    private readonly string documentColumnName;
    private readonly MixerRetrievalOptions options;

    internal MixerRetrievalEstimator(IHostEnvironment env, string queryColumnName, string documentColumnName, MixerRetrievalOptions options)
    {
        host = Contracts.CheckRef(env, nameof(env)).Register(nameof(MixerRetrievalEstimator));
        host.CheckNonEmpty(queryColumnName, nameof(queryColumnName));
        host.CheckNonEmpty(documentColumnName, nameof(documentColumnName));
        host.CheckValue(options, nameof(options));
        Validate(options);
        this.queryColumnName = queryColumnName;
        this.documentColumnName = documentColumnName;
        this.options = options;
    }

    private static void Validate(MixerRetrievalOptions o)
    {
        o.ValidateTraining(minimumBatchSize: 2);
        SequenceTrainingOptions.AtLeast(o.ContextLength, 3, nameof(o.ContextLength));
        SequenceTrainingOptions.AtLeast(o.Candidates, 2, nameof(o.Candidates));
        SequenceTrainingOptions.AtLeast(o.CheckpointInterval, 1, nameof(o.CheckpointInterval));
        if (!(o.Temperature > 0) || double.IsInfinity(o.Temperature))
            throw new ArgumentOutOfRangeException(nameof(o.Temperature), o.Temperature, "Temperature must be a positive finite number.");
        if (!Enum.IsDefined(o.Pooling))
            throw new ArgumentOutOfRangeException(nameof(o.Pooling), o.Pooling, "Unknown pooling.");
        if (!Enum.IsDefined(o.Negatives))
            throw new ArgumentOutOfRangeException(nameof(o.Negatives), o.Negatives, "Unknown negatives.");
        if (!(o.HardNegativeShare is >= 0 and <= 1))
            throw new ArgumentOutOfRangeException(nameof(o.HardNegativeShare), o.HardNegativeShare, "HardNegativeShare must be between 0 and 1.");
        if (!(o.Dropout is >= 0 and < 1))
            throw new ArgumentOutOfRangeException(nameof(o.Dropout), o.Dropout, "Dropout must be at least 0 and below 1.");
        if (!(o.TokenDropout is >= 0 and < 1))
            throw new ArgumentOutOfRangeException(nameof(o.TokenDropout), o.TokenDropout, "TokenDropout must be at least 0 and below 1.");
        if (o.LanguageModel is null && o.Tokenization == TextTokenization.Tokenizer)
            throw new ArgumentException("A retriever trained from scratch tokenizes Characters, Bytes or Subwords; to use a Microsoft.ML.Tokenizers tokenizer, start from a language model trained with it.", nameof(o.Tokenization));
        if (o.LanguageModel is null && o.Tokenization == TextTokenization.Subwords && o.SubwordVocabularySize < 257)
            throw new ArgumentOutOfRangeException(nameof(o.SubwordVocabularySize), o.SubwordVocabularySize, "SubwordVocabularySize must be at least 257 (the 256 bytes and end of text).");
        if (string.IsNullOrEmpty(o.QueryEmbeddingColumnName) || string.IsNullOrEmpty(o.DocumentEmbeddingColumnName))
            throw new ArgumentException("The embedding column names must not be empty.", nameof(o.QueryEmbeddingColumnName));
        if (o.QueryEmbeddingColumnName == o.DocumentEmbeddingColumnName)
            throw new ArgumentException($"The query and document embedding columns are both named '{o.QueryEmbeddingColumnName}'.", nameof(o.DocumentEmbeddingColumnName));
    }

    private MixerEmbeddingTransformer.EmbeddingColumn[] OutputColumns =>
    [
        new(queryColumnName, options.QueryEmbeddingColumnName, Query: true),
        new(documentColumnName, options.DocumentEmbeddingColumnName, Query: false),
    ];

    /// <summary>Checks that both columns are scalar text and adds the two embedding columns.</summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        host.CheckValue(inputSchema, nameof(inputSchema));
        return MixerEmbeddingTransformer.OutputSchema(inputSchema, OutputColumns, options.Width, requireAll: true);
    }

    /// <summary>Reads every (query, document) pair, trains the towers, and returns the embedding transformer.</summary>
    public MixerEmbeddingTransformer Fit(IDataView input)
    {
        host.CheckValue(input, nameof(input));
        GetOutputSchema(SchemaShape.Create(input.Schema));
        var queries = MixerLanguageModelEstimator.ReadDocuments(input, queryColumnName);
        var documents = MixerLanguageModelEstimator.ReadDocuments(input, documentColumnName);
        int batch = options.Negatives == RetrievalNegatives.InBatch ? 2 : options.Candidates;
        if (queries.Count < batch)
            throw new ArgumentException($"Retrieval training needs at least {batch} (query, document) pairs; the data has {queries.Count}.", nameof(input));

        using var threads = TorchRuntime.UseThreadCount(options.NumberOfThreads);
        var device = TorchRuntime.ResolveDevice(host, options.Device);
        TextEmbedder queryTower;
        if (options.LanguageModel is { } lm)
        {
            lm.RequireCausal("embed text for retrieval");
            queryTower = new TextEmbedder(lm.Model, lm.Tokenizer, options.Pooling, device).Clone();
        }
        else
        {
            var tokenizer = TextTokenizer.Create(options.Tokenization, null, queries.Concat(documents), options.SubwordVocabularySize);
            var config = new LanguageModelConfig(options.Architecture, tokenizer.VocabularySize, options.ContextLength, options.Width,
                                                 options.Depth, options.Heads, options.MlpRatio, options.Dropout);
            var model = new LanguageModel(config);
            model.Initialize(options.Seed);
            model.to(device);
            queryTower = new TextEmbedder(model, tokenizer, options.Pooling, device);
        }
        var documentTower = options.SeparateTowers ? queryTower.Clone() : queryTower;
        try
        {
            var encodedQueries = queries.Select(queryTower.Encode).ToArray();
            var encodedDocuments = documents.Select(documentTower.Encode).ToArray();
            RetrievalTrainer.Train(host, options, queryTower, documentTower, encodedQueries, encodedDocuments);
        }
        catch
        {
            queryTower.Dispose();
            if (options.SeparateTowers)
                documentTower.Dispose();
            throw;
        }
        return new MixerEmbeddingTransformer(host, queryTower, documentTower, OutputColumns);
    }
}

/// <summary>
/// Embeds a text column with a trained language model's final hidden states, pooled and normalised (no training:
/// <c>Fit</c> only checks the schema and copies the weights). Created by <c>mlContext.Transforms.Text.MixerEmbedding</c>.
/// </summary>
public sealed class MixerEmbeddingEstimator : IEstimator<MixerEmbeddingTransformer>
{
    private readonly IHost host;
    private readonly MixerLanguageModelTransformer languageModel;
    private readonly MixerEmbeddingTransformer.EmbeddingColumn column;
    private readonly EmbeddingPooling pooling;

    internal MixerEmbeddingEstimator(IHostEnvironment env, MixerLanguageModelTransformer languageModel, string outputColumnName, string inputColumnName,
                                     EmbeddingPooling pooling)
    {
        host = Contracts.CheckRef(env, nameof(env)).Register(nameof(MixerEmbeddingEstimator));
        host.CheckValue(languageModel, nameof(languageModel));
        host.CheckNonEmpty(outputColumnName, nameof(outputColumnName));
        host.CheckNonEmpty(inputColumnName, nameof(inputColumnName));
        if (!Enum.IsDefined(pooling))
            throw new ArgumentOutOfRangeException(nameof(pooling), pooling, "Unknown pooling.");
        this.languageModel = languageModel;
        column = new MixerEmbeddingTransformer.EmbeddingColumn(inputColumnName, outputColumnName, Query: true);
        this.pooling = pooling;
    }

    /// <summary>Checks that the input column is scalar text and adds the embedding column.</summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        host.CheckValue(inputSchema, nameof(inputSchema));
        return MixerEmbeddingTransformer.OutputSchema(inputSchema, [column], languageModel.Model.Config.Width, requireAll: true);
    }

    /// <summary>Returns the embedding transformer (with its own copy of the language model's weights).</summary>
    public MixerEmbeddingTransformer Fit(IDataView input)
    {
        host.CheckValue(input, nameof(input));
        GetOutputSchema(SchemaShape.Create(input.Schema));
        languageModel.RequireCausal("embed text");
        var tower = new TextEmbedder(languageModel.Model, languageModel.Tokenizer, pooling, languageModel.Device).Clone();
        return new MixerEmbeddingTransformer(host, tower, tower, [column]);
    }
}
