using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNetMixers.Memory;
using MLNetMixers.Models;
using MLNetMixers.Text;
using MLNetMixers.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetMixers;

/// <summary>
/// Trains a memory language model on a text column (one document per row): each document is cut into chunks of
/// <see cref="MixerMemoryLanguageModelOptions.ChunkLength"/> tokens and the decoder predicts each chunk reading the
/// memories of the chunks before it. Created by <c>mlContext.Transforms.Text.TrainMixerMemoryLanguageModel</c>.
/// </summary>
public sealed class MixerMemoryLanguageModelEstimator : MixerTextModelEstimator<MixerMemoryLanguageModelTransformer>
{
    private readonly MixerMemoryLanguageModelOptions options;

    internal MixerMemoryLanguageModelEstimator(IHostEnvironment env, string inputColumnName, MixerMemoryLanguageModelOptions options)
        : base(env, nameof(MixerMemoryLanguageModelEstimator), inputColumnName, Contracts.CheckRef(options, nameof(options)).LossColumnName,
               SchemaShape.Column.VectorKind.Scalar)
    {
        options.Validate();
        this.options = options;
    }

    /// <summary>Reads the documents, trains (the curriculum's copy stage first when asked), and returns the transformer.</summary>
    public override MixerMemoryLanguageModelTransformer Fit(IDataView input)
    {
        var documents = ReadDocuments(input);
        var source = options.Encoder;
        var tokenizer = source?.Tokenizer ?? TextTokenizer.Create(options.Tokenization, null, documents);

        using var threads = TorchRuntime.UseThreadCount(options.NumberOfThreads);
        var device = TorchRuntime.ResolveDevice(Host, options.Device);
        var encoderConfig = source?.Model.Config.Encoder
            ?? new LanguageModelConfig(options.Architecture, tokenizer.VocabularySize, options.ChunkLength + 1, options.Width, options.Depth,
                                       options.Heads, options.MlpRatio, Dropout: 0);
        var decoderConfig = new LanguageModelConfig(options.Architecture, tokenizer.VocabularySize, options.Memories + options.ChunkLength + 1,
                                                    options.Width, options.Depth, options.Heads, options.MlpRatio, Dropout: 0);
        var model = new MemoryLanguageModel(new MemoryLanguageModelConfig(encoderConfig, options.MemoryWidth, options.Memories, decoderConfig));
        try
        {
            model.Initialize(options.Seed);
            if (source is not null)
                model.CopyEncoderFrom(source.Model);
            model.to(device);
            using var windows = new MemoryWindows(documents.Select(tokenizer.Encode).ToList(), options.ChunkLength, options.Memories, tokenizer.EndOfText, device);
            using (var ch = Host.Start("Training memory language model"))
                ch.Info($"{options.Architecture} memory language model: {model.ParameterCount:N0} weights, {windows.ChunkCount:N0} chunks of at most " +
                        $"{options.ChunkLength} tokens, {options.Memories} memories of width {options.MemoryWidth}, objective {options.Objective}" +
                        $"{(options.Curriculum ? " after a copy stage" : "")}{(options.FreezeEncoder ? ", frozen encoder" : "")}");
            // A frozen encoder's memories never change: compute them once and train the decoder side alone.
            using var bank = options.FreezeEncoder ? windows.Bank(model) : null;
            nn.Module trained = options.FreezeEncoder ? model.Reader : model;
            var settings = options.Settings;
            if (options.Curriculum)
            {
                var copy = settings with
                {
                    Steps = (int)Math.Ceiling(settings.Steps * options.CurriculumCopyFraction),
                    MaxTrainingTime = settings.MaxTrainingTime * options.CurriculumCopyFraction,
                };
                Stage(model, trained, windows, bank, MemoryObjective.Copy, copy, device);
                settings = settings with
                {
                    Steps = settings.Steps - copy.Steps,
                    MaxTrainingTime = settings.MaxTrainingTime - copy.MaxTrainingTime,
                    Seed = settings.Seed + 1,
                };
            }
            Stage(model, trained, windows, bank, options.Objective, settings, device);
        }
        catch
        {
            model.Dispose();
            throw;
        }
        return new MixerMemoryLanguageModelTransformer(Host, model, tokenizer, device, InputColumnName, options.LossColumnName);
    }

    private void Stage(MemoryLanguageModel model, nn.Module trained, MemoryWindows windows, Tensor? bank, MemoryObjective objective,
                       SequenceTrainingSettings settings, Device device)
    {
        if (settings.Steps <= 0)
            return;
        using var targets = windows.Targets(objective);
        MemoryTraining.Train(Host, $"memory language model ({objective})", trained, targets,
                             (rows, t) => windows.LossSum(model, bank, objective, rows, t), settings, device);
    }
}
