using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNetMixers.Training;

namespace MLNetMixers;

/// <summary>
/// Trains a mixer (or a baseline network) for regression on rows encoded by
/// <c>mlContext.Transforms.EncodeAsCharacters</c>. Reached through <c>mlContext.Regression.Trainers.Mixer</c>.
/// </summary>
/// <remarks>
/// <para><b>Input.</b> The feature column is the encoder's known-size vector of keys; the label is Single or Double.
/// The network learns the standardised label ((y - mean) / std over the training rows); scores are mapped back.</para>
/// <para><b>Output.</b> <c>Score</c> (Single, in the label's units), as every ML.NET regression trainer.</para>
/// </remarks>
public sealed class MixerRegressionTrainer : IEstimator<MixerPredictionTransformer>
{
    /// <summary>Options of <see cref="MixerRegressionTrainer"/>.</summary>
    public sealed class Options : MixerTrainerOptions
    {
        /// <summary>
        /// Regression trains for 40 epochs by default, twice the multiclass trainer's 20: fitting a continuous target takes
        /// more optimizer steps than separating classes (benchmarks/results/Defaults.md#epochs).
        /// </summary>
        public Options()
        {
            Epochs = 40;
        }

        /// <summary>
        /// Regression keeps 0.1 on small tables: 0.3 and 0 both scored lower (benchmarks/results/Defaults.md#dropout).
        /// </summary>
        internal override double SmallTableDropout => 0.1;
    }

    private readonly IHost host;
    private readonly MixerTrainerCore core;

    internal MixerRegressionTrainer(IHostEnvironment env, Options options)
    {
        Contracts.CheckValue(env, nameof(env));
        host = env.Register(nameof(MixerRegressionTrainer));
        core = new MixerTrainerCore(host, options, new RegressionTask());
    }

    /// <summary>Trains on <paramref name="input"/> for <see cref="MixerTrainerOptions.Epochs"/> epochs.</summary>
    public MixerPredictionTransformer Fit(IDataView input) => core.Fit(input, null);

    /// <summary>
    /// Trains on <paramref name="train"/>, measuring RMSE on <paramref name="validation"/> after every epoch; keeps the
    /// best epoch's weights and stops early after <see cref="MixerTrainerOptions.EarlyStoppingPatience"/> epochs
    /// without improvement.
    /// </summary>
    public MixerPredictionTransformer Fit(IDataView train, IDataView validation)
    {
        host.CheckValue(validation, nameof(validation));
        return core.Fit(train, validation);
    }

    /// <summary>Checks the feature and label columns and describes the prediction column, before any training.</summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema) => core.GetOutputSchema(inputSchema);

    private sealed class RegressionTask : MixerTaskDefinition
    {
        public override MixerTask Task => MixerTask.Regression;

        public override string ExpectedLabel => "Single or Double (a numeric label; convert text first, e.g. mlContext.Transforms.Conversion.ConvertType)";

        public override bool AcceptsLabel(SchemaShape.Column label)
            => label.Kind == SchemaShape.Column.VectorKind.Scalar && !label.IsKey && AcceptsLabel(label.ItemType);

        public override bool AcceptsLabel(DataViewType type) => type == NumberDataViewType.Single || type == NumberDataViewType.Double;

        public override Func<float> LabelReader(DataViewRow row, DataViewSchema.Column label)
        {
            if (label.Type.RawType == typeof(float))
            {
                var getSingle = row.GetGetter<float>(label);
                float f = 0;
                return () => { getSingle(ref f); return float.IsFinite(f) ? f : float.NaN; };
            }
            var getDouble = row.GetGetter<double>(label);
            double d = 0;
            return () => { getDouble(ref d); return double.IsFinite(d) ? (float)d : float.NaN; };
        }

        public override (TaskObjective Objective, (double Mean, double Std) Scaling) Prepare(IHost host, DataViewSchema.Column label, float[] labels)
        {
            double mean = labels.Average(l => (double)l);
            double std = Math.Sqrt(labels.Average(l => (l - mean) * (l - mean)));
            if (!(std > 0))
                throw host.Except($"The label column '{label.Name}' is {labels[0]} in all {labels.Length} training rows; a constant label leaves nothing to learn.");
            return (new RegressionObjective(std), (mean, std));
        }

        public override float[] Targets(float[] labels, (double Mean, double Std) scaling)
            => labels.Select(l => (float)((l - scaling.Mean) / scaling.Std)).ToArray();
    }
}
