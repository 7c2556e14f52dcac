using Microsoft.ML;
using MLNetMixers.Cli.Terminal;

namespace MLNetMixers.Cli.Training;

/// <summary>Writes the attribution report for a trained model into the output folder.</summary>
internal static class ExplainStep
{
    public static void Run(MLContext mlContext, ITransformer model, IDataView data, TrainSettings settings, ConsoleUi ui)
    {
        // Wired once the attribution API (mlContext.Transforms.ExplainMixer) is on main.
    }
}
