using Microsoft.ML;
using MLNetMixers.Cli.Terminal;

namespace MLNetMixers.Cli.Training;

internal static partial class MixerStep
{
    // Replaced by the real trainer wiring once the mixer trainers are on main.
    private static Microsoft.ML.Data.TransformerChain<ITransformer> TrainCore(MLContext mlContext, MixerStepInput input, ProgressReport report)
        => throw new CliException("This build of mlnet-mixers does not include the mixer trainers yet.");
}
