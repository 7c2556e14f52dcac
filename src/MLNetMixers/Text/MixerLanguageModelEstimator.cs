using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNetMixers.Models;
using MLNetMixers.Text;
using MLNetMixers.Training;

namespace MLNetMixers;

/// <summary>
/// Trains a causal language model (masked mixer, Toeplitz mixer or transformer baseline) on a text column, one
/// document per row, and returns a <see cref="MixerLanguageModelTransformer"/> that continues prompts.
/// Created by <c>mlContext.Transforms.Text.TrainMixerLanguageModel</c>.
/// </summary>
public sealed class MixerLanguageModelEstimator : IEstimator<MixerLanguageModelTransformer>
{
    private readonly IHost host;
    private readonly string textColumnName;
    private readonly MixerLanguageModelOptions options;

    internal MixerLanguageModelEstimator(IHostEnvironment env, string textColumnName, MixerLanguageModelOptions options)
    {
        host = Contracts.CheckRef(env, nameof(env)).Register(nameof(MixerLanguageModelEstimator));
        host.CheckNonEmpty(textColumnName, nameof(textColumnName));
        host.CheckValue(options, nameof(options));
        Validate(options);
        this.textColumnName = textColumnName;
        this.options = options;
    }

    private string PromptColumnName => options.PromptColumnName ?? textColumnName;

    private static void Validate(MixerLanguageModelOptions o)
    {
        o.ValidateTraining();
        SequenceTrainingOptions.AtLeast(o.ContextLength, 1, nameof(o.ContextLength));
        SequenceTrainingOptions.AtLeast(o.CheckpointInterval, 1, nameof(o.CheckpointInterval));
        if (!Enum.IsDefined(o.Precision))
            throw new ArgumentOutOfRangeException(nameof(o.Precision), o.Precision, "Precision must be Float32 or BFloat16.");
        if (o.ContextLength < 2)
            throw new ArgumentOutOfRangeException(nameof(o.ContextLength), o.ContextLength, "ContextLength must be at least 2.");
        if (o.Architecture == MixerLanguageModelArchitecture.LlamaTransformer && o.Width / o.Heads % 2 != 0)
            throw new ArgumentException($"The Llama transformer's rotary positions need an even head width; Width {o.Width} / Heads {o.Heads} = {o.Width / o.Heads}.", nameof(o.Heads));
        if (o.Tokenization == TextTokenization.Subwords && o.SubwordVocabularySize < 257)
            throw new ArgumentOutOfRangeException(nameof(o.SubwordVocabularySize), o.SubwordVocabularySize, "SubwordVocabularySize must be at least 257 (the 256 bytes and end of text).");
        if (!(o.ContextWarmupFraction >= 0 && o.ContextWarmupFraction <= 1))
            throw new ArgumentOutOfRangeException(nameof(o.ContextWarmupFraction), o.ContextWarmupFraction, "ContextWarmupFraction must be between 0 and 1.");
        if (o.Dropout is < 0 or >= 1)
            throw new ArgumentOutOfRangeException(nameof(o.Dropout), o.Dropout, "Dropout must be in [0, 1).");
        if (o.Tokenization == TextTokenization.Tokenizer && o.Tokenizer is null)
            throw new ArgumentException($"Tokenization is {nameof(TextTokenization.Tokenizer)} but Tokenizer is null.", nameof(o.Tokenizer));
        if (o.MemoryCodeSize < 0)
            throw new ArgumentOutOfRangeException(nameof(o.MemoryCodeSize), o.MemoryCodeSize, "MemoryCodeSize must not be negative (0 trains a plain causal model).");
        if (o.MemoryCodeSize > 0)
        {
            if (o.MemoryCodeBits is < 1 or > 16)
                throw new ArgumentOutOfRangeException(nameof(o.MemoryCodeBits), o.MemoryCodeBits, "MemoryCodeBits must be from 1 to 16.");
            SequenceTrainingOptions.AtLeast(o.MemoryEncoderWidth, 1, nameof(o.MemoryEncoderWidth));
            SequenceTrainingOptions.AtLeast(o.MemoryEncoderDepth, 1, nameof(o.MemoryEncoderDepth));
            if (o.MemoryEncoderWidth % o.Heads != 0)
                throw new ArgumentException($"MemoryEncoderWidth ({o.MemoryEncoderWidth}) must be a multiple of Heads ({o.Heads}).", nameof(o.MemoryEncoderWidth));
            if (o.ContextLength < 3)
                throw new ArgumentOutOfRangeException(nameof(o.ContextLength), o.ContextLength, "With a memory code ContextLength must be at least 3 (the memory token takes one position).");
            if (o.EntropyEstimator is not null)
                throw new ArgumentException("MemoryCodeSize and EntropyEstimator cannot be combined: entropy-aware training is for causal models.", nameof(o.EntropyEstimator));
            if (o.CheckpointFolder is not null)
                throw new ArgumentException("Checkpoints are not written for models with a memory code (MemoryCodeSize > 0): set CheckpointFolder to null.", nameof(o.CheckpointFolder));
        }
        if (string.IsNullOrEmpty(o.OutputColumnName))
            throw new ArgumentException("OutputColumnName must not be empty.", nameof(o.OutputColumnName));
        Contracts.CheckValue(o.Generation, nameof(o.Generation));
        o.Generation.Validate();
    }

    /// <summary>Checks that the text and prompt columns are scalar text and adds the generated-text column.</summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        host.CheckValue(inputSchema, nameof(inputSchema));
        CheckTextColumn(inputSchema, textColumnName, "text");
        CheckTextColumn(inputSchema, PromptColumnName, "prompt");
        var columns = inputSchema.ToDictionary(c => c.Name);
        columns[options.OutputColumnName] = new SchemaShape.Column(options.OutputColumnName, SchemaShape.Column.VectorKind.Scalar, TextDataViewType.Instance, false);
        return new SchemaShape(columns.Values);
    }

    private void CheckTextColumn(SchemaShape schema, string name, string role)
    {
        if (!schema.TryFindColumn(name, out var column))
            throw host.ExceptSchemaMismatch(nameof(schema), role, name);
        if (column.Kind != SchemaShape.Column.VectorKind.Scalar || column.ItemType is not TextDataViewType)
            throw host.ExceptSchemaMismatch(nameof(schema), role, name, "String", column.GetTypeString());
    }

    /// <summary>Reads every document of the text column, trains, and returns the language-model transformer.</summary>
    public MixerLanguageModelTransformer Fit(IDataView input)
    {
        host.CheckValue(input, nameof(input));
        GetOutputSchema(SchemaShape.Create(input.Schema));
        var documents = ReadDocuments(input, textColumnName);
        var tokenizer = options.EntropyEstimator is { } estimator
            ? Compression.EntropyAwareLoss.TokenizerOf(estimator, options.Tokenization)
            : TextTokenizer.Create(options.Tokenization, options.Tokenizer, documents, options.SubwordVocabularySize);
        int[] stream = LanguageModelTrainer.Pack(documents, tokenizer);
        if (documents.All(d => d.Length == 0))
            throw new ArgumentException($"The text column '{textColumnName}' holds no text to learn from ({documents.Count} rows, all empty).", nameof(input));

        using var threads = TorchRuntime.UseThreadCount(options.NumberOfThreads);
        var device = TorchRuntime.ResolveDevice(host, options.Device);
        var config = new LanguageModelConfig(options.Architecture, tokenizer.VocabularySize, options.ContextLength, options.Width,
                                             options.Depth, options.Heads, options.MlpRatio, options.Dropout);
        var (model, memoryCode) = LanguageModelTrainer.Train(host, options, config, tokenizer, stream, device);
        return new MixerLanguageModelTransformer(host, model, tokenizer, device, PromptColumnName, options.OutputColumnName, options.Generation.Clone(), memoryCode);
    }

    /// <summary>Every row of a scalar text column; missing text reads as an empty document.</summary>
    internal static List<string> ReadDocuments(IDataView data, string columnName)
    {
        var column = data.Schema.GetColumnOrNull(columnName)
            ?? throw new ArgumentOutOfRangeException(nameof(columnName), $"The data has no column '{columnName}'.");
        if (column.Type is not TextDataViewType)
            throw new ArgumentException($"Column '{columnName}' is {column.Type}, not text.", nameof(columnName));
        var documents = new List<string>();
        using var cursor = data.GetRowCursor([column]);
        var getter = cursor.GetGetter<ReadOnlyMemory<char>>(column);
        ReadOnlyMemory<char> value = default;
        while (cursor.MoveNext())
        {
            getter(ref value);
            documents.Add(value.ToString());
        }
        return documents;
    }
}
