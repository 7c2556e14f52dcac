using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNetMixers.Attribution;

namespace MLNetMixers;

/// <summary>
/// Adds per-row attributions of a fitted mixer pipeline: <c>CharacterAttributions</c> (vector of Single, one per
/// position of the encoded row), <c>FieldAttributions</c> (vector of Single, slot names = field names) and, for
/// integrated gradients, <c>CompletenessGap</c> (Single). Input: data that already holds the encoded column (the
/// pipeline's output), or raw data, which the pipeline scores first (its columns are kept). Immutable.
/// </summary>
/// <remarks>
/// Rows are explained in batches of <see cref="MixerExplainOptions.BatchSize"/> as a cursor reaches them. The
/// transformer is not saved into model zips (an explanation is recomputed from the saved model instead): save the
/// pipeline, load it, and call <c>ExplainMixer</c> on the loaded model. It does not serve PredictionEngine.
/// </remarks>
public sealed class MixerExplainTransformer : ITransformer
{
    private readonly IHost host;
    private readonly CharacterAttributor attributor;
    private readonly ReadOnlyMemory<char>[] fieldNames;

    internal MixerExplainTransformer(IHostEnvironment env, ExplainedPipeline pipeline, MixerExplainOptions options)
    {
        host = Contracts.CheckRef(env, nameof(env)).Register(nameof(MixerExplainTransformer));
        Pipeline = pipeline;
        Options = options.Clone();
        attributor = new CharacterAttributor(pipeline.Network, Options);
        fieldNames = pipeline.Network.Fields.Select(f => f.Name.AsMemory()).ToArray();
    }

    internal ExplainedPipeline Pipeline { get; }

    internal MixerExplainOptions Options { get; }

    /// <summary>False: attributions are computed in batches over a cursor, not row by row.</summary>
    public bool IsRowToRowMapper => false;

    /// <summary>The input schema (scored by the pipeline first when it lacks the encoded column) plus the attribution columns.</summary>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema)
    {
        host.CheckValue(inputSchema, nameof(inputSchema));
        var scored = NeedsScoring(inputSchema) ? Pipeline.Model.GetOutputSchema(inputSchema) : inputSchema;
        return AppendColumns(scored);
    }

    /// <summary>Explains every row of <paramref name="input"/> lazily, as cursors reach it.</summary>
    public IDataView Transform(IDataView input)
    {
        host.CheckValue(input, nameof(input));
        return new ExplainedDataView(this, NeedsScoring(input.Schema) ? Pipeline.Model.Transform(input) : input);
    }

    /// <summary>Not supported: see the remarks on <see cref="MixerExplainTransformer"/>.</summary>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema)
        => throw host.ExceptNotSupp("MixerExplainTransformer explains rows in batches and has no row-to-row mapper: use Transform on an IDataView.");

    void ICanSaveModel.Save(ModelSaveContext ctx)
        => throw host.ExceptNotSupp("MixerExplainTransformer is not saved into model files: save the mixer pipeline, load it, and create the explainer with mlContext.Transforms.ExplainMixer(loadedModel).");

    private bool NeedsScoring(DataViewSchema schema)
    {
        var column = schema.GetColumnOrNull(Pipeline.FeatureColumnName);
        if (column is null)
            return true;
        CheckEncodedColumn(column.Value.Type, column.Value.Name);
        return false;
    }

    internal void CheckEncodedColumn(DataViewType type, string name)
    {
        int length = Pipeline.Network.SequenceLength;
        if (type is not VectorDataViewType { ItemType: KeyDataViewType, Size: var size } || size != length)
            throw host.ExceptSchemaMismatch(nameof(type), "encoded", name, $"known-size vector of {length} keys (the character encoder's output)", type.ToString());
    }

    internal DataViewSchema AppendColumns(DataViewSchema schema)
    {
        var builder = new DataViewSchema.Builder();
        builder.AddColumns(schema);
        int length = Pipeline.Network.SequenceLength;
        var characterAnnotations = new DataViewSchema.Annotations.Builder();
        var encoded = schema.GetColumnOrNull(Pipeline.FeatureColumnName);
        if (encoded is { } column && column.HasSlotNames(length))
        {
            VBuffer<ReadOnlyMemory<char>> slotNames = default;
            column.GetSlotNames(ref slotNames);
            var copy = slotNames.DenseValues().ToArray();
            characterAnnotations.AddSlotNames(length, (ref VBuffer<ReadOnlyMemory<char>> dst) => Copy(copy, ref dst));
        }
        builder.AddColumn(Options.CharacterAttributionsColumnName, new VectorDataViewType(NumberDataViewType.Single, length), characterAnnotations.ToAnnotations());
        var fieldAnnotations = new DataViewSchema.Annotations.Builder();
        fieldAnnotations.AddSlotNames(fieldNames.Length, (ref VBuffer<ReadOnlyMemory<char>> dst) => Copy(fieldNames, ref dst));
        builder.AddColumn(Options.FieldAttributionsColumnName, new VectorDataViewType(NumberDataViewType.Single, fieldNames.Length), fieldAnnotations.ToAnnotations());
        if (Options.Method == AttributionMethod.IntegratedGradients)
            builder.AddColumn(Options.CompletenessGapColumnName, NumberDataViewType.Single);
        return builder.ToSchema();
    }

    private static void Copy(ReadOnlyMemory<char>[] source, ref VBuffer<ReadOnlyMemory<char>> dst)
    {
        var editor = VBufferEditor.Create(ref dst, source.Length);
        source.CopyTo(editor.Values);
        dst = editor.Commit();
    }

    /// <summary>Writes one row's token ids (key - 1), checking the row is a complete encoded row.</summary>
    internal void CopyTokenIds(in VBuffer<uint> keys, Span<long> destination, long row)
    {
        int length = Pipeline.Network.SequenceLength;
        if (keys.Length != length)
            throw host.Except($"Row {row}: the encoded column '{Pipeline.FeatureColumnName}' holds {keys.Length} tokens; the model reads {length}.");
        int vocabulary = Pipeline.Encoder.VocabularySize;
        int i = 0;
        foreach (uint key in keys.DenseValues())
        {
            if (key == 0 || key > vocabulary)
                throw host.Except($"Row {row}: the encoded column '{Pipeline.FeatureColumnName}' holds key {key}, outside 1..{vocabulary} (a missing or foreign key); it was not produced by this model's encoder.");
            destination[i++] = key - 1;
        }
    }

    /// <summary>Attributes a batch and derives the per-field and normalised values.</summary>
    internal ExplainedBatch ExplainBatch(int[] ids, int rows)
    {
        var raw = attributor.Explain(ids, rows);
        int length = Pipeline.Network.SequenceLength;
        var fields = Pipeline.Network.Fields;
        var characters = raw.Characters.ToArray();
        var perField = new float[rows * fields.Count];
        for (int r = 0; r < rows; r++)
        {
            var rowCharacters = characters.AsSpan(r * length, length);
            var rowFields = perField.AsSpan(r * fields.Count, fields.Count);
            FieldAttribution.Aggregate(rowCharacters, fields, Options.Aggregation, rowFields);
            if (Options.Normalize)
            {
                FieldAttribution.NormalizeByMax(rowCharacters);
                FieldAttribution.NormalizeByMax(rowFields);
            }
        }
        return new ExplainedBatch(rows, characters, perField, raw.CompletenessGaps, raw);
    }
}
