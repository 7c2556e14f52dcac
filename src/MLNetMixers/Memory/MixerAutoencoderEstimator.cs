using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNetMixers.Memory;
using MLNetMixers.Models;
using MLNetMixers.Text;
using MLNetMixers.Training;
using TorchSharp;

namespace MLNetMixers;

/// <summary>
/// Trains a chunk autoencoder on a text column (every row cut into chunks of <see cref="MixerAutoencoderOptions.ChunkLength"/>
/// tokens): each chunk becomes one memory vector and is regenerated from it. The transformer adds the memory column.
/// Created by <c>mlContext.Transforms.Text.TrainMixerAutoencoder</c>.
/// </summary>
public sealed class MixerAutoencoderEstimator : IEstimator<MixerAutoencoderTransformer>
{
    private readonly IHost host;
    private readonly string inputColumnName;
    private readonly MixerAutoencoderOptions options;

    internal MixerAutoencoderEstimator(IHostEnvironment env, string inputColumnName, MixerAutoencoderOptions options)
    {
        host = Contracts.CheckRef(env, nameof(env)).Register(nameof(MixerAutoencoderEstimator));
        host.CheckNonEmpty(inputColumnName, nameof(inputColumnName));
        host.CheckValue(options, nameof(options));
        options.Validate();
        this.inputColumnName = inputColumnName;
        this.options = options;
    }

    /// <summary>Checks that the input column is scalar text and adds the memory column.</summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        host.CheckValue(inputSchema, nameof(inputSchema));
        return TextColumn.WithOutput(inputSchema, inputColumnName, options.MemoryColumnName, SchemaShape.Column.VectorKind.Vector);
    }

    /// <summary>Reads the text, trains encoder and decoder together to regenerate every chunk, and returns the transformer.</summary>
    public MixerAutoencoderTransformer Fit(IDataView input)
    {
        host.CheckValue(input, nameof(input));
        GetOutputSchema(SchemaShape.Create(input.Schema));
        var documents = MixerLanguageModelEstimator.ReadDocuments(input, inputColumnName);
        if (documents.All(d => d.Length == 0))
            throw new ArgumentException($"The text column '{inputColumnName}' holds no text to learn from ({documents.Count} rows, all empty).", nameof(input));
        var tokenizer = TextTokenizer.Create(options.Tokenization, null, documents);
        var chunks = documents.Where(d => d.Length > 0).SelectMany(d => MemoryChunks.Split(tokenizer.Encode(d), options.ChunkLength)).ToArray();

        using var threads = TorchRuntime.UseThreadCount(options.NumberOfThreads);
        var device = TorchRuntime.ResolveDevice(host, options.Device);
        var side = new LanguageModelConfig(options.Architecture, tokenizer.VocabularySize, options.ChunkLength + 1, options.Width,
                                           options.Depth, options.Heads, options.MlpRatio, Dropout: 0);
        var model = new MemoryAutoencoder(new MemoryAutoencoderConfig(side, options.MemoryWidth, side, options.Decoding));
        try
        {
            model.Initialize(options.Seed);
            model.to(device);
            var (tokens, targets) = MemoryChunks.Rows(chunks, options.ChunkLength, tokenizer.EndOfText, device);
            using (tokens)
            using (targets)
            {
                using (var ch = host.Start("Training autoencoder"))
                    ch.Info($"{options.Architecture} autoencoder: {model.ParameterCount:N0} weights, {chunks.Length:N0} chunks of at most " +
                            $"{options.ChunkLength} tokens, memory width {options.MemoryWidth}, {options.Decoding} decoder");
                // Under the chunk-length warm-up t may be shorter than the rows: the encoder reads the same first columns.
                MemoryTraining.Train(host, "autoencoder", model, targets,
                    (rows, t) => MemoryChunks.LossSum(model.forward(tokens.index_select(0, rows)[.., ..(int)t.shape[1]], t), t), options.Settings, device,
                    (options.LengthWarmupFraction, tokenizer.EndOfText));
            }
        }
        catch
        {
            model.Dispose();
            throw;
        }
        return new MixerAutoencoderTransformer(host, model, tokenizer, device, inputColumnName, options.MemoryColumnName);
    }
}
