using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNetMixers.Encoding;
using MLNetMixers.Models;
using MLNetMixers.Training;
using static TorchSharp.torch;

namespace MLNetMixers;

/// <summary>What differs between the three mixer tasks: the label's type, its reading and checks, and the objective.</summary>
internal abstract class MixerTaskDefinition
{
    public abstract MixerTask Task { get; }

    /// <summary>The label types this task accepts, in words, for error messages.</summary>
    public abstract string ExpectedLabel { get; }

    /// <summary>Schema-time check of the label column (before any data is read).</summary>
    public abstract bool AcceptsLabel(SchemaShape.Column label);

    public abstract bool AcceptsLabel(DataViewType type);

    /// <summary>Reads the current row's label as a float: 0/1, a 0-based class index, or the target; NaN when missing.</summary>
    public abstract Func<float> LabelReader(DataViewRow row, DataViewSchema.Column label);

    /// <summary>Checks the training labels (classes present, not constant), and builds the objective and training targets.</summary>
    public abstract (TaskObjective Objective, (double Mean, double Std) Scaling) Prepare(IHost host, DataViewSchema.Column label, float[] labels);

    /// <summary>Training targets from labels (regression standardises; classification keeps them).</summary>
    public virtual float[] Targets(float[] labels, (double Mean, double Std) scaling) => labels;

    /// <summary>The label annotations the prediction columns carry (multiclass key values).</summary>
    public virtual DataViewSchema.Annotations? LabelKeyValues(DataViewSchema.Column label) => null;
}

/// <summary>The estimator logic shared by the three public mixer trainers (which are sealed, so they compose this).</summary>
internal sealed class MixerTrainerCore
{
    /// <summary>Torch's default generator is process-wide: seeding and initialising a network happen under this lock.</summary>
    private static readonly object TorchSeedLock = new();

    private readonly IHost host;
    private readonly MixerTrainerOptions options;
    private readonly MixerTaskDefinition task;

    public MixerTrainerCore(IHost host, MixerTrainerOptions options, MixerTaskDefinition task)
    {
        this.host = host;
        this.options = options;
        this.task = task;
        CheckOptions(host, options);
    }

    private static void CheckOptions(IHost host, MixerTrainerOptions o)
    {
        host.CheckValue(o, "options");
        host.CheckNonEmpty(o.LabelColumnName, nameof(o.LabelColumnName));
        host.CheckNonEmpty(o.FeatureColumnName, nameof(o.FeatureColumnName));
        host.CheckUserArg(o.Width >= 1, nameof(o.Width), "must be at least 1");
        host.CheckUserArg(o.Depth >= 0, nameof(o.Depth), "must be 0 or more");
        host.CheckUserArg(o.MaxMixedTokens >= 0, nameof(o.MaxMixedTokens), "must be 0 (no grouping) or more");
        host.CheckUserArg(o.MlpRatio >= 1, nameof(o.MlpRatio), "must be at least 1");
        host.CheckUserArg(o.Heads >= 1 && o.Width % o.Heads == 0, nameof(o.Heads), $"must be at least 1 and divide Width ({o.Width})");
        host.CheckUserArg(o.Dropout is null or (>= 0 and < 1), nameof(o.Dropout), "must be in [0, 1)");
        host.CheckUserArg(o.Epochs >= 1, nameof(o.Epochs), "must be at least 1");
        host.CheckUserArg(o.BatchSize >= 1, nameof(o.BatchSize), "must be at least 1");
        host.CheckUserArg(o.LearningRate > 0 && double.IsFinite(o.LearningRate), nameof(o.LearningRate), "must be a positive number");
        host.CheckUserArg(o.WeightDecay >= 0, nameof(o.WeightDecay), "must be 0 or more");
        host.CheckUserArg(o.WarmupFraction is >= 0 and < 1, nameof(o.WarmupFraction), "must be in [0, 1)");
        host.CheckUserArg(o.EarlyStoppingPatience is null or >= 1, nameof(o.EarlyStoppingPatience), "must be at least 1");
        host.CheckUserArg(o.MaxTrainingTime is null || o.MaxTrainingTime > TimeSpan.Zero, nameof(o.MaxTrainingTime), "must be positive");
        host.CheckUserArg(o.NumberOfThreads is null or >= 1, nameof(o.NumberOfThreads), "must be at least 1");
        host.CheckUserArg(Enum.IsDefined(o.Precision), nameof(o.Precision), "must be Float32 or BFloat16");
        host.CheckUserArg(o.EmbeddingColumnName is null || (o.EmbeddingColumnName.Trim().Length > 0 && o.EmbeddingColumnName is not
                (MixerPredictionTransformer.ScoreColumnName or MixerPredictionTransformer.ProbabilityColumnName or MixerPredictionTransformer.PredictedLabelColumnName)),
            nameof(o.EmbeddingColumnName), "must be null or a name other than Score, Probability and PredictedLabel");
    }

    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        host.CheckValue(inputSchema, nameof(inputSchema));
        if (!inputSchema.TryFindColumn(options.FeatureColumnName, out var features))
            throw host.ExceptSchemaMismatch(nameof(inputSchema), "feature", options.FeatureColumnName);
        if (features.Kind != SchemaShape.Column.VectorKind.Vector || !features.IsKey)
            throw host.ExceptSchemaMismatch(nameof(inputSchema), "feature", options.FeatureColumnName,
                "a known-size vector of keys (the output of mlContext.Transforms.EncodeAsCharacters)", features.GetTypeString());
        if (!inputSchema.TryFindColumn(options.LabelColumnName, out var label))
            throw host.ExceptSchemaMismatch(nameof(inputSchema), "label", options.LabelColumnName);
        if (!task.AcceptsLabel(label))
            throw host.ExceptSchemaMismatch(nameof(inputSchema), "label", options.LabelColumnName, task.ExpectedLabel, label.GetTypeString());

        var columns = inputSchema.ToDictionary(c => c.Name);
        foreach (var column in OutputShape(label))
            columns[column.Name] = column;
        return new SchemaShape(columns.Values);
    }

    private IEnumerable<SchemaShape.Column> OutputShape(SchemaShape.Column label)
    {
        var scoreAnnotations = AnnotationUtils.GetTrainerOutputAnnotation(true);
        var labelAnnotations = AnnotationUtils.GetTrainerOutputAnnotation();
        switch (task.Task)
        {
            case MixerTask.BinaryClassification:
                yield return new SchemaShape.Column(MixerPredictionTransformer.ScoreColumnName, SchemaShape.Column.VectorKind.Scalar, NumberDataViewType.Single, false, new SchemaShape(scoreAnnotations));
                yield return new SchemaShape.Column(MixerPredictionTransformer.ProbabilityColumnName, SchemaShape.Column.VectorKind.Scalar, NumberDataViewType.Single, false,
                    new SchemaShape(scoreAnnotations.Concat([new SchemaShape.Column(AnnotationUtils.Kinds.IsNormalized, SchemaShape.Column.VectorKind.Scalar, BooleanDataViewType.Instance, false)])));
                yield return new SchemaShape.Column(MixerPredictionTransformer.PredictedLabelColumnName, SchemaShape.Column.VectorKind.Scalar, BooleanDataViewType.Instance, false, new SchemaShape(labelAnnotations));
                break;
            case MixerTask.MulticlassClassification:
                yield return new SchemaShape.Column(MixerPredictionTransformer.ScoreColumnName, SchemaShape.Column.VectorKind.Vector, NumberDataViewType.Single, false,
                    new SchemaShape(AnnotationUtils.AnnotationsForMulticlassScoreColumn(label)));
                yield return new SchemaShape.Column(MixerPredictionTransformer.PredictedLabelColumnName, SchemaShape.Column.VectorKind.Scalar, NumberDataViewType.UInt32, true,
                    new SchemaShape(labelAnnotations.Concat(label.Annotations.Where(a => a.Name == AnnotationUtils.Kinds.KeyValues))));
                break;
            default:
                yield return new SchemaShape.Column(MixerPredictionTransformer.ScoreColumnName, SchemaShape.Column.VectorKind.Scalar, NumberDataViewType.Single, false, new SchemaShape(scoreAnnotations));
                break;
        }
        if (options.EmbeddingColumnName is { } embedding)
            yield return new SchemaShape.Column(embedding, SchemaShape.Column.VectorKind.Vector, NumberDataViewType.Single, false);
    }

    public MixerPredictionTransformer Fit(IDataView train, IDataView? validation)
    {
        host.CheckValue(train, nameof(train));
        GetOutputSchema(SchemaShape.Create(train.Schema));
        var (sequenceLength, vocabularySize) = FeatureShape(train.Schema);
        var label = train.Schema[options.LabelColumnName];
        if (!task.AcceptsLabel(label.Type))
            throw host.ExceptSchemaMismatch(nameof(train), "label", options.LabelColumnName, task.ExpectedLabel, label.Type.ToString());
        if (validation is not null)
        {
            var validationShape = FeatureShape(validation.Schema);
            if (validationShape != (sequenceLength, vocabularySize))
                throw host.Except($"The validation column '{options.FeatureColumnName}' has {validationShape.SequenceLength} tokens of {validationShape.VocabularySize} kinds; " +
                                  $"the training column has {sequenceLength} of {vocabularySize}. Encode both with the same fitted EncodeAsCharacters transformer.");
            if (!validation.Schema.TryGetColumnIndex(options.LabelColumnName, out int validationLabel) || !validation.Schema[validationLabel].Type.Equals(label.Type))
                throw host.ExceptSchemaMismatch(nameof(validation), "label", options.LabelColumnName, label.Type.ToString(),
                    validation.Schema.GetColumnOrNull(options.LabelColumnName)?.Type.ToString() ?? "missing");
        }

        TorchRuntime.EnsureAvailable();
        using var threads = TorchRuntime.UseThreadCount(options.NumberOfThreads);
        var device = TorchRuntime.ResolveDevice(host, options.Device);
        // Float32 training on a GPU runs its matrix products in TF32 for this run only.
        using var tf32 = options.Precision == MixerPrecision.Float32 ? TorchRuntime.UseTf32MatrixProducts(device) : default;
        int seed = options.Seed ?? host.Rand.Next();

        using var ch = host.Start("Reading training data");
        using var trainRows = EncodedRows.Read(host, train, options.FeatureColumnName, sequenceLength, vocabularySize, options.LabelColumnName, row => task.LabelReader(row, row.Schema[options.LabelColumnName]));
        CheckNoMissingLabels(trainRows.Labels, "training");
        if (trainRows.Count == 0)
            throw host.Except($"The training data has no rows.");
        var (objective, scaling) = task.Prepare(host, label, trainRows.Labels);
        using var validationRows = validation is null ? null
            : EncodedRows.Read(host, validation, options.FeatureColumnName, sequenceLength, vocabularySize, options.LabelColumnName, row => task.LabelReader(row, row.Schema[options.LabelColumnName]));
        if (validationRows is not null)
        {
            CheckNoMissingLabels(validationRows.Labels, "validation");
            if (validationRows.Count == 0)
                throw host.Except("The validation data has no rows.");
        }
        if (options.EarlyStoppingPatience is not null && validationRows is null)
            ch.Warning("EarlyStoppingPatience needs a validation set, trainer.Fit(train, validation): training every epoch.");
        // Value tokens, when the encoder wrote them, get the piecewise-linear embedding (Models/NumberValueEmbedding.cs).
        int valueTokenStart = NumberValueTokens.FindStart(train.Schema[options.FeatureColumnName]);
        // The models map every id from the first value token up onto it (TabularModel.Embed): value tokens must be the last ids.
        if (valueTokenStart >= 0 && valueTokenStart + NumberValueTokens.Count != vocabularySize)
            throw host.Except($"Column '{options.FeatureColumnName}' holds value tokens from id {valueTokenStart} that are not its last {NumberValueTokens.Count} ids " +
                              $"(key count {vocabularySize}): the column is not an EncodeAsCharacters output.");
        // The model is built (and saved) with the resolved dropout, so a loaded model never depends on this rule.
        double dropout = options.ResolveDropout(trainRows.Count, valueTokens: valueTokenStart >= 0);
        ch.Info($"Training a {options.Architecture} ({options.Width} wide, {options.Depth} deep) for {task.Task} on {trainRows.Count} rows of {sequenceLength} tokens" +
                (validationRows is null ? "" : $", validating on {validationRows.Count} rows") + $", on {device}, seed {seed}, dropout {dropout}" +
                (options.Dropout is not null ? "." : valueTokenStart >= 0 ? " (chosen for numbers as value tokens)."
                    : $" (chosen for {(trainRows.Count < MixerTrainerOptions.SmallTableRows ? "fewer than" : "at least")} {MixerTrainerOptions.SmallTableRows} training rows)."));

        var shape = new TabularModelConfig(options.Architecture, sequenceLength, vocabularySize, objective.Outputs,
            options.Width, options.Depth, options.MlpRatio, options.Heads, dropout, valueTokenStart,
            options.Architecture == TabularArchitecture.Mlp ? 1 : TabularModelConfig.GroupFor(sequenceLength, options.MaxMixedTokens));
        if (shape.PositionsPerToken > 1)
            ch.Info($"A wide row ({sequenceLength} positions): {shape.PositionsPerToken} adjacent positions per token, {shape.MixedTokens} tokens mixed (MaxMixedTokens = {options.MaxMixedTokens}).");
        TabularModel network;
        lock (TorchSeedLock)
        {
            TorchSharp.torch.random.manual_seed(seed);
            network = shape.Create();
        }
        try
        {
            var loop = new MixerTrainingLoop(host, options, objective, device);
            loop.Run(network, trainRows, task.Targets(trainRows.Labels, scaling), validationRows,
                validationRows is null ? null : task.Targets(validationRows.Labels, scaling), seed);
        }
        catch
        {
            network.Dispose();
            throw;
        }
        return new MixerPredictionTransformer(host, task.Task, options.FeatureColumnName, shape, network, options.Device, device, scaling, task.LabelKeyValues(label),
            options.EmbeddingColumnName);
    }

    private void CheckNoMissingLabels(float[] labels, string which)
    {
        int missing = labels.Count(float.IsNaN);
        if (missing == 0)
            return;
        int first = Array.FindIndex(labels, float.IsNaN);
        throw host.Except($"The label column '{options.LabelColumnName}' has {missing} missing value(s) in the {which} data (the first in row {first}). " +
                          $"Drop those rows first, e.g. mlContext.Data.FilterRowsByMissingValues(data, \"{options.LabelColumnName}\").");
    }

    private (int SequenceLength, int VocabularySize) FeatureShape(DataViewSchema schema)
    {
        if (!schema.TryGetColumnIndex(options.FeatureColumnName, out int index))
            throw host.ExceptSchemaMismatch(nameof(schema), "feature", options.FeatureColumnName);
        var type = schema[index].Type;
        if (type is not VectorDataViewType { ItemType: KeyDataViewType key } vector || !vector.IsKnownSize || key.RawType != typeof(uint) || key.Count > int.MaxValue)
            throw host.ExceptSchemaMismatch(nameof(schema), "feature", options.FeatureColumnName,
                "a known-size vector of Key<UInt32> (the output of mlContext.Transforms.EncodeAsCharacters)", type.ToString());
        return (vector.Size, (int)key.Count);
    }
}
