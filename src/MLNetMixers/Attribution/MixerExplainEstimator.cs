using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNetMixers.Attribution;

namespace MLNetMixers;

/// <summary>
/// Configuration of <see cref="MixerExplainTransformer"/>, created by <c>mlContext.Transforms.ExplainMixer</c>. Fitting
/// learns nothing: it checks the data and returns the transformer.
/// </summary>
public sealed class MixerExplainEstimator : IEstimator<MixerExplainTransformer>
{
    private readonly IHost host;
    private readonly ExplainedPipeline pipeline;
    private readonly MixerExplainOptions options;

    internal MixerExplainEstimator(IHostEnvironment env, ExplainedPipeline pipeline, MixerExplainOptions options)
    {
        host = Contracts.CheckRef(env, nameof(env)).Register(nameof(MixerExplainEstimator));
        options.Validate();
        this.pipeline = pipeline;
        this.options = options.Clone();
        if (options.TargetClass is int c && pipeline.Network.Task != ExplainedTask.Regression && c >= pipeline.Network.ClassCount)
            throw host.ExceptParam(nameof(options), $"TargetClass {c} does not exist: the model has {pipeline.Network.ClassCount} classes (0..{pipeline.Network.ClassCount - 1}).");
    }

    /// <summary>Checks the data's schema and returns the transformer.</summary>
    public MixerExplainTransformer Fit(IDataView input)
    {
        host.CheckValue(input, nameof(input));
        GetOutputSchema(SchemaShape.Create(input.Schema));
        return new MixerExplainTransformer(host, pipeline, options);
    }

    /// <summary>
    /// The input columns plus the attribution columns. The input must hold either the encoded column (checked: a
    /// known-size key vector of the model's sequence length) or every raw column the character encoder reads.
    /// </summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        var columns = inputSchema.ToDictionary(c => c.Name);
        if (inputSchema.TryFindColumn(pipeline.FeatureColumnName, out var encoded))
        {
            if (encoded.Kind != SchemaShape.Column.VectorKind.Vector || !encoded.IsKey)
                throw host.ExceptSchemaMismatch(nameof(inputSchema), "encoded", pipeline.FeatureColumnName,
                    $"known-size vector of {pipeline.Network.SequenceLength} keys (the character encoder's output)", encoded.GetTypeString());
        }
        else
        {
            foreach (string name in pipeline.Encoder.InputColumnNames)
            {
                if (!inputSchema.TryFindColumn(name, out _))
                    throw host.ExceptSchemaMismatch(nameof(inputSchema), "input", name);
            }
        }
        var none = new SchemaShape(Array.Empty<SchemaShape.Column>());
        columns[options.CharacterAttributionsColumnName] = new SchemaShape.Column(options.CharacterAttributionsColumnName,
            SchemaShape.Column.VectorKind.Vector, NumberDataViewType.Single, false, none);
        columns[options.FieldAttributionsColumnName] = new SchemaShape.Column(options.FieldAttributionsColumnName,
            SchemaShape.Column.VectorKind.Vector, NumberDataViewType.Single, false, SlotNamesShape());
        if (options.Method == AttributionMethod.IntegratedGradients)
            columns[options.CompletenessGapColumnName] = new SchemaShape.Column(options.CompletenessGapColumnName,
                SchemaShape.Column.VectorKind.Scalar, NumberDataViewType.Single, false, none);
        return new SchemaShape(columns.Values);
    }

    private static SchemaShape SlotNamesShape() => new([new SchemaShape.Column(AnnotationUtils.Kinds.SlotNames,
        SchemaShape.Column.VectorKind.Vector, TextDataViewType.Instance, false)]);
}
