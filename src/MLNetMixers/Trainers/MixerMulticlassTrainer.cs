using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNetMixers.Training;

namespace MLNetMixers;

/// <summary>
/// Trains a mixer (or a baseline network) for multiclass classification on rows encoded by
/// <c>mlContext.Transforms.EncodeAsCharacters</c>. Reached through <c>mlContext.MulticlassClassification.Trainers.Mixer</c>.
/// </summary>
/// <remarks>
/// <para><b>Input.</b> The feature column is the encoder's known-size vector of keys; the label must be a key column,
/// as for every ML.NET multiclass trainer: put <c>mlContext.Transforms.Conversion.MapValueToKey("Label")</c> first.</para>
/// <para><b>Output.</b> <c>Score</c> (a vector of K class probabilities, slot names from the label's key values) and
/// <c>PredictedLabel</c> (a key with the label's key values: <c>MapKeyToValue</c> turns it back into the class).</para>
/// </remarks>
public sealed class MixerMulticlassTrainer : IEstimator<MixerPredictionTransformer>
{
    /// <summary>Options of <see cref="MixerMulticlassTrainer"/>.</summary>
    public sealed class Options : MixerTrainerOptions
    {
        /// <summary>Label smoothing: the target puts 1 - eps on the true class and eps spread over all classes; in [0, 1).</summary>
        public double LabelSmoothing = 0;

        /// <summary>Weight of each class in the loss, in key order (length = the label's key count). Null: all 1.</summary>
        public float[]? ClassWeights;

        /// <summary>Weights classes by rows / (classes x rows of the class), so rare classes count as much as common ones.
        /// Ignored when <see cref="ClassWeights"/> is set.</summary>
        public bool BalanceClasses;
    }

    private readonly IHost host;
    private readonly MixerTrainerCore core;

    internal MixerMulticlassTrainer(IHostEnvironment env, Options options)
    {
        Contracts.CheckValue(env, nameof(env));
        host = env.Register(nameof(MixerMulticlassTrainer));
        host.CheckValue(options, nameof(options));
        host.CheckUserArg(options.LabelSmoothing is >= 0 and < 1, nameof(options.LabelSmoothing), "must be in [0, 1)");
        host.CheckUserArg(options.ClassWeights is null || options.ClassWeights.All(w => w >= 0 && float.IsFinite(w)), nameof(options.ClassWeights), "must be finite and not negative");
        core = new MixerTrainerCore(host, options, new MulticlassTask(options));
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

    private sealed class MulticlassTask(Options options) : MixerTaskDefinition
    {
        public override MixerTask Task => MixerTask.MulticlassClassification;

        public override string ExpectedLabel => "a key (put mlContext.Transforms.Conversion.MapValueToKey(\"Label\") before the trainer)";

        public override bool AcceptsLabel(SchemaShape.Column label) => label.Kind == SchemaShape.Column.VectorKind.Scalar && label.IsKey;

        public override bool AcceptsLabel(DataViewType type) => type is KeyDataViewType { Count: >= 1 and <= int.MaxValue };

        public override Func<float> LabelReader(DataViewRow row, DataViewSchema.Column label)
        {
            // Key 0 is ML.NET's missing key; key k is class k - 1.
            switch (label.Type.RawType)
            {
                case var t when t == typeof(byte):
                    var getByte = row.GetGetter<byte>(label);
                    byte b = 0;
                    return () => { getByte(ref b); return b == 0 ? float.NaN : b - 1; };
                case var t when t == typeof(ushort):
                    var getShort = row.GetGetter<ushort>(label);
                    ushort s = 0;
                    return () => { getShort(ref s); return s == 0 ? float.NaN : s - 1; };
                case var t when t == typeof(ulong):
                    var getLong = row.GetGetter<ulong>(label);
                    ulong l = 0;
                    return () => { getLong(ref l); return l == 0 ? float.NaN : l - 1; };
                default:
                    var getUInt = row.GetGetter<uint>(label);
                    uint u = 0;
                    return () => { getUInt(ref u); return u == 0 ? float.NaN : u - 1; };
            }
        }

        public override (TaskObjective Objective, (double Mean, double Std) Scaling) Prepare(IHost host, DataViewSchema.Column label, float[] labels)
        {
            int classes = (int)((KeyDataViewType)label.Type).Count;
            var counts = new int[classes];
            foreach (float l in labels)
                counts[(int)l]++;
            int present = counts.Count(c => c > 0);
            if (present < 2)
                throw host.Except($"The label column '{label.Name}' has a single class in all {labels.Length} training rows; " +
                                  "multiclass classification needs examples of at least two classes.");
            float[]? weights = options.ClassWeights;
            if (weights is not null && weights.Length != classes)
                throw host.Except($"ClassWeights has {weights.Length} weights but the label column '{label.Name}' has {classes} classes.");
            if (weights is null && options.BalanceClasses)
                weights = counts.Select(c => c == 0 ? 1f : (float)labels.Length / (present * c)).ToArray();
            return (new MulticlassObjective(classes, options.LabelSmoothing, weights), (0, 1));
        }

        public override DataViewSchema.Annotations? LabelKeyValues(DataViewSchema.Column label)
        {
            if (label.Annotations.Schema.GetColumnOrNull(AnnotationUtils.Kinds.KeyValues) is not { Type: VectorDataViewType })
                return null;
            var builder = new DataViewSchema.Annotations.Builder();
            builder.Add(label.Annotations, name => name == AnnotationUtils.Kinds.KeyValues);
            return builder.ToAnnotations();
        }
    }
}
