using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetMixers.Attribution;

/// <summary>
/// A fitted pipeline taken apart for attribution: the whole model (to score raw data), the character encoder (fields,
/// token texts) and the network with what its outputs mean.
/// </summary>
internal sealed class ExplainedPipeline
{
    internal ExplainedPipeline(ITransformer model, CharacterEncodingTransformer encoder, ExplainedModel network, string? featureColumnName = null)
    {
        Model = model;
        Encoder = encoder;
        Network = network;
        FeatureColumnName = featureColumnName ?? encoder.OutputColumnName;
    }

    /// <summary>The whole fitted pipeline, applied to raw data that lacks the encoded column.</summary>
    public ITransformer Model { get; }

    public CharacterEncodingTransformer Encoder { get; }

    public ExplainedModel Network { get; }

    /// <summary>The encoded column the network reads.</summary>
    public string FeatureColumnName { get; }

    /// <summary>
    /// Finds the character encoder and the mixer predictor in <paramref name="model"/> (a chain, nested chains allowed,
    /// or the predictor itself after an encoder). Throws naming what is missing.
    /// </summary>
    public static ExplainedPipeline Resolve(ITransformer model)
    {
        var parts = Flatten(model).ToList();
        var encoder = parts.OfType<CharacterEncodingTransformer>().LastOrDefault()
            ?? throw new ArgumentException(
                "The model contains no CharacterEncodingTransformer (mlContext.Transforms.EncodeAsCharacters): attribution needs it to " +
                $"know the fields. Pass the whole fitted pipeline (e.g. the TransformerChain from pipeline.Fit), not only its last transformer. Found: {Describe(parts)}.",
                nameof(model));
        int networks = parts.OfType<MixerPredictionTransformer>().Count();
        // Attributions of one network would misstate what an average predicts: of several networks, or of a mixer and trees.
        if (networks > 1)
            throw new ArgumentException(
                $"The model averages {networks} mixer networks (an experiment's mixer with AverageMixerFoldModels): attribution explains a single " +
                "network. Train one mixer, or run the experiment with AverageMixerFoldModels off.", nameof(model));
        if (parts.OfType<AveragedPredictionTransformer>().Any())
            throw new ArgumentException(
                "The model is an experiment's ensemble (the mixer's predictions averaged with LightGBM's): attribution explains a single " +
                "mixer network. Train one mixer, or run the experiment with Ensemble off.", nameof(model));
        var predictor = parts.OfType<MixerPredictionTransformer>().LastOrDefault()
            ?? throw new ArgumentException(
                "The model contains no mixer predictor (a MixerPredictionTransformer from the mixer trainers, e.g. " +
                $"mlContext.BinaryClassification.Trainers.Mixer). Found: {Describe(parts)}.", nameof(model));
        if (predictor.SequenceLength != encoder.SequenceLength || predictor.VocabularySize != encoder.VocabularySize)
            throw new ArgumentException(
                $"The mixer predictor reads rows of {predictor.SequenceLength} tokens over {predictor.VocabularySize} token ids, but the character " +
                $"encoder writes {encoder.SequenceLength} tokens over {encoder.VocabularySize}: they were not fitted together.", nameof(model));
        var task = predictor.Task switch
        {
            MixerTask.BinaryClassification => ExplainedTask.Binary,
            MixerTask.MulticlassClassification => ExplainedTask.Multiclass,
            _ => ExplainedTask.Regression,
        };
        var network = new ExplainedModel(predictor.Network, predictor.Device, task, predictor.ClassCount, encoder.Fields, encoder.SequenceLength,
            predictor.TargetScaling.Mean, predictor.TargetScaling.Std);
        return new ExplainedPipeline(model, encoder, network, predictor.FeatureColumnName);
    }

    private static IEnumerable<ITransformer> Flatten(ITransformer transformer)
    {
        if (transformer is IEnumerable<ITransformer> chain)
        {
            foreach (var inner in chain)
            {
                foreach (var t in Flatten(inner))
                    yield return t;
            }
        }
        else
        {
            yield return transformer;
        }
    }

    private static string Describe(List<ITransformer> parts)
        => parts.Count == 0 ? "an empty chain" : string.Join(", ", parts.Select(p => p.GetType().Name));

    /// <summary>Display names of the classes: the Score column's slot names when the model provides them.</summary>
    public string[] ClassNames(DataViewSchema scoredSchema)
    {
        int k = Network.ClassCount;
        if (Network.Task == ExplainedTask.Binary)
            return ["False", "True"];
        if (Network.Task == ExplainedTask.Multiclass && scoredSchema.GetColumnOrNull("Score") is { } score && score.HasSlotNames(k))
        {
            VBuffer<ReadOnlyMemory<char>> names = default;
            score.GetSlotNames(ref names);
            var values = names.DenseValues().Select(v => v.ToString()).ToArray();
            if (values.Length == k && values.All(v => v.Length > 0))
                return values;
        }
        return Enumerable.Range(0, k).Select(i => $"class {i}").ToArray();
    }
}
