using Microsoft.ML;
using MLNetMixers.Cli.Data;
using MLNetMixers.Cli.Terminal;

namespace MLNetMixers.Cli.Training;

/// <summary>What the mixer step needs: the split, the columns to encode and how to train.</summary>
internal sealed record MixerStepInput(
    CsvSchema Schema,
    IReadOnlyList<string> FeatureColumns,
    LabelSpec Label,
    IDataView Train,
    TrainSettings Settings,
    CancellationToken Cancellation);

/// <summary>Encodes the feature columns as characters and trains the mixer on them.</summary>
internal static partial class MixerStep
{
    /// <summary>Default epochs when neither --epochs nor --train-time is given.</summary>
    public const int DefaultEpochs = 20;

    public static Microsoft.ML.Data.TransformerChain<ITransformer> Train(MLContext mlContext, MixerStepInput input, ProgressReport report)
        => TrainCore(mlContext, input, report);
}
