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
public sealed class MixerAutoencoderEstimator : MixerTextModelEstimator<MixerAutoencoderTransformer>
{
    private readonly MixerAutoencoderOptions options;

    internal MixerAutoencoderEstimator(IHostEnvironment env, string inputColumnName, MixerAutoencoderOptions options)
        : base(env, nameof(MixerAutoencoderEstimator), inputColumnName, Contracts.CheckRef(options, nameof(options)).MemoryColumnName,
               SchemaShape.Column.VectorKind.Vector)
    {
        options.Validate();
        this.options = options;
    }

    /// <summary>Reads the text, trains encoder and decoder together to regenerate every chunk, and returns the transformer.</summary>
    public override MixerAutoencoderTransformer Fit(IDataView input)
    {
        var documents = ReadDocuments(input);
        var tokenizer = TextTokenizer.Create(options.Tokenization, null, documents);
        var chunks = documents.SelectMany(d => MemoryChunks.Split(tokenizer.Encode(d), options.ChunkLength)).ToArray();

        using var threads = TorchRuntime.UseThreadCount(options.NumberOfThreads);
        var device = TorchRuntime.ResolveDevice(Host, options.Device);
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
                using (var ch = Host.Start("Training autoencoder"))
                    ch.Info($"{options.Architecture} autoencoder: {model.ParameterCount:N0} weights, {chunks.Length:N0} chunks of at most " +
                            $"{options.ChunkLength} tokens, memory width {options.MemoryWidth}, {options.Decoding} decoder");
                // Under the chunk-length warm-up t may be shorter than the rows: the encoder reads the same first columns.
                MemoryTraining.Train(Host, "autoencoder", model, targets,
                    (rows, t) => MemoryChunks.LossSum(model.forward(tokens.index_select(0, rows)[.., ..(int)t.shape[1]], t), t), options.Settings, device,
                    (options.LengthWarmupFraction, tokenizer.EndOfText));
            }
        }
        catch
        {
            model.Dispose();
            throw;
        }
        return new MixerAutoencoderTransformer(Host, model, tokenizer, device, InputColumnName, options.MemoryColumnName);
    }
}
