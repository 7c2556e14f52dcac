using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNetMixers.Training;

namespace MLNetMixers;

/// <summary>
/// Trains a mixer (or a baseline network) for binary classification on rows encoded by
/// <c>mlContext.Transforms.EncodeAsCharacters</c>. Reached through <c>mlContext.BinaryClassification.Trainers.Mixer</c>.
/// </summary>
/// <remarks>
/// <para><b>Input.</b> The feature column is the encoder's known-size vector of keys; the label is Boolean
/// (Single or Double are accepted too: non-zero is true, NaN is missing). Rows with a missing label are an error.</para>
/// <para><b>Output.</b> <c>Score</c> (Single: the logit), <c>Probability</c> (Single) and <c>PredictedLabel</c>
/// (Boolean, Probability &gt; 0.5), as every ML.NET binary trainer, so <c>BinaryClassification.Evaluate</c>,
/// <c>CrossValidate</c> and PredictionEngine work.</para>
/// </remarks>
public sealed class MixerBinaryTrainer : IEstimator<MixerPredictionTransformer>
{
    /// <summary>Options of <see cref="MixerBinaryTrainer"/>.</summary>
    public sealed class Options : MixerTrainerOptions
    {
        /// <summary>
        /// Binary classification trains for 6 epochs by default, against the multiclass trainer's 20: on most binary tables
        /// more epochs lowered the held-out AUC while the training-fold AUC kept rising (benchmarks/results/Defaults.md#epochs).
        /// </summary>
        public Options()
        {
            Epochs = 6;
        }

        /// <summary>Label smoothing: targets become eps/2 and 1 - eps/2 instead of 0 and 1; in [0, 1).</summary>
        public double LabelSmoothing = 0;

        /// <summary>Weight of the positive class in the loss (e.g. negatives/positives for imbalanced data).</summary>
        public double PositiveClassWeight = 1;
    }

    private readonly IHost host;
    private readonly Options options;
    private readonly MixerTrainerCore core;

    internal MixerBinaryTrainer(IHostEnvironment env, Options options)
    {
        Contracts.CheckValue(env, nameof(env));
        host = env.Register(nameof(MixerBinaryTrainer));
        host.CheckValue(options, nameof(options));
        host.CheckUserArg(options.LabelSmoothing is >= 0 and < 1, nameof(options.LabelSmoothing), "must be in [0, 1)");
        host.CheckUserArg(options.PositiveClassWeight > 0 && double.IsFinite(options.PositiveClassWeight), nameof(options.PositiveClassWeight), "must be a positive number");
        this.options = options;
        core = new MixerTrainerCore(host, options, new BinaryTask(options));
    }

    /// <summary>Trains on <paramref name="input"/> for <see cref="MixerTrainerOptions.Epochs"/> epochs.</summary>
    public MixerPredictionTransformer Fit(IDataView input) => core.Fit(input, null);

    /// <summary>
    /// Trains on <paramref name="train"/>, measuring log-loss on <paramref name="validation"/> after every epoch; keeps
    /// the best epoch's weights and stops early after <see cref="MixerTrainerOptions.EarlyStoppingPatience"/> epochs
    /// without improvement.
    /// </summary>
    public MixerPredictionTransformer Fit(IDataView train, IDataView validation)
    {
        host.CheckValue(validation, nameof(validation));
        return core.Fit(train, validation);
    }

    /// <summary>Checks the feature and label columns and describes the prediction columns, before any training.</summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema) => core.GetOutputSchema(inputSchema);

    private sealed class BinaryTask(Options options) : MixerTaskDefinition
    {
        public override MixerTask Task => MixerTask.BinaryClassification;

        public override string ExpectedLabel => "Boolean (or Single/Double with 0 for false)";

        public override bool AcceptsLabel(SchemaShape.Column label)
            => label.Kind == SchemaShape.Column.VectorKind.Scalar && !label.IsKey && AcceptsLabel(label.ItemType);

        public override bool AcceptsLabel(DataViewType type)
            => type is BooleanDataViewType || type == NumberDataViewType.Single || type == NumberDataViewType.Double;

        public override Func<float> LabelReader(DataViewRow row, DataViewSchema.Column label)
        {
            switch (label.Type)
            {
                case BooleanDataViewType:
                    var getBool = row.GetGetter<bool>(label);
                    bool b = false;
                    return () => { getBool(ref b); return b ? 1f : 0f; };
                case NumberDataViewType when label.Type.RawType == typeof(float):
                    var getSingle = row.GetGetter<float>(label);
                    float f = 0;
                    return () => { getSingle(ref f); return float.IsNaN(f) ? float.NaN : f != 0 ? 1f : 0f; };
                default:
                    var getDouble = row.GetGetter<double>(label);
                    double d = 0;
                    return () => { getDouble(ref d); return double.IsNaN(d) ? float.NaN : d != 0 ? 1f : 0f; };
            }
        }

        public override (TaskObjective Objective, (double Mean, double Std) Scaling) Prepare(IHost host, DataViewSchema.Column label, float[] labels)
        {
            int positives = labels.Count(l => l == 1);
            if (positives == 0 || positives == labels.Length)
                throw host.Except($"The label column '{label.Name}' is {(positives == 0 ? "false" : "true")} in all {labels.Length} training rows; " +
                                  "binary classification needs examples of both classes.");
            return (new BinaryObjective(options.LabelSmoothing, options.PositiveClassWeight), (0, 1));
        }
    }
}
