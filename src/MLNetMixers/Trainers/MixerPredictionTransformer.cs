using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Data.IO;
using Microsoft.ML.Runtime;
using Microsoft.ML.Internal.Utilities;
using MLNetMixers;
using MLNetMixers.Models;
using MLNetMixers.Persistence;
using MLNetMixers.Training;
using TorchSharp;
using static TorchSharp.torch;

[assembly: LoadableClass(typeof(MixerPredictionTransformer), null, typeof(SignatureLoadModel),
    "Mixer prediction", MixerPredictionTransformer.LoaderSignature)]
[assembly: LoadableClass(typeof(IRowMapper), typeof(MixerPredictionTransformer), null, typeof(SignatureLoadRowMapper),
    "Mixer prediction", MixerPredictionTransformer.LoaderSignature)]

namespace MLNetMixers;

/// <summary>
/// A trained mixer model: reads the encoded <c>Features</c> column and adds ML.NET's standard prediction columns.
/// Binary: <c>Score</c> (Single, the logit), <c>Probability</c> (Single) and <c>PredictedLabel</c> (Boolean).
/// Multiclass: <c>Score</c> (a vector of K class probabilities, slot names from the label's key values) and
/// <c>PredictedLabel</c> (a key with the label's key values, so <c>MapKeyToValue</c> recovers the class).
/// Regression: <c>Score</c> (Single, in the label's units). An IDataView is scored in batches through the network;
/// a PredictionEngine scores single rows (one engine per thread). Immutable; saves into the ML.NET model zip.
/// </summary>
public sealed class MixerPredictionTransformer : RowToRowTransformerBase, ITransformer, IDisposable
{
    internal const string LoaderSignature = "MixerPrediction";
    internal const string ScoreColumnName = "Score";
    internal const string ProbabilityColumnName = "Probability";
    internal const string PredictedLabelColumnName = "PredictedLabel";
    internal const int ScoringBatchSize = 256;

    /// <summary>Most positions (rows x T) per scoring run: 256 rows of a 2,000-column table held about 3 GB of activations.</summary>
    internal const int MaxScoringPositions = 1 << 16;

    /// <summary>Rows per scoring run: <see cref="ScoringBatchSize"/>, fewer for wide rows so that memory stays bounded.</summary>
    internal int ScoringRows => Math.Clamp(MaxScoringPositions / Math.Max(1, SequenceLength), 1, ScoringBatchSize);

    private readonly TabularModelConfig shape;
    private readonly MixerDevice requestedDevice;
    /// <summary>The label's KeyValues annotation (multiclass), kept to label the predictions; null when it had none.</summary>
    private readonly DataViewSchema.Annotations? labelKeyValues;
    private readonly TaskPrediction prediction;
    private bool disposed;

    // The label's key values are a VBuffer of the key's value type, known only at run time: ML.NET's generic dispatch.
    private static readonly FuncStaticMethodInfo1<DataViewSchema.Annotations, ReadOnlyMemory<char>[]> KeyValueTextsOfType = new(KeyValueTexts<int>);
    private static readonly FuncStaticMethodInfo1<BinarySaver, (Stream, DataViewSchema.Annotations), bool> SaveKeyValuesOfType = new(SaveKeyValuesOf<int>);
    private static readonly FuncStaticMethodInfo1<VectorDataViewType, object, DataViewSchema.Annotations> KeyValuesAnnotationOfType = new(KeyValuesAnnotationOf<int>);

    internal MixerPredictionTransformer(IHostEnvironment env, MixerTask task, string featureColumnName, TabularModelConfig shape,
        TabularModel network, MixerDevice requestedDevice, Device device, (double Mean, double Std) targetScaling,
        DataViewSchema.Annotations? labelKeyValues, string? embeddingColumnName = null)
        : base(Contracts.CheckRef(env, nameof(env)).Register(nameof(MixerPredictionTransformer)))
    {
        Task = task;
        FeatureColumnName = featureColumnName;
        this.shape = shape;
        this.requestedDevice = requestedDevice;
        Network = network;
        Device = device;
        TargetScaling = targetScaling;
        this.labelKeyValues = labelKeyValues;
        EmbeddingColumnName = embeddingColumnName;
        var classNames = labelKeyValues is null ? null : LabelKeyValueTexts(labelKeyValues);
        prediction = TaskPrediction.For(task, shape.Outputs, targetScaling, labelKeyValues, classNames);
        if (classNames is not null && classNames.Length != ClassCount)
            throw Host.Except($"The label has {classNames.Length} key values but the model predicts {ClassCount} classes.");
        Network.eval();
    }

    /// <summary>What the model predicts.</summary>
    public MixerTask Task { get; }

    /// <summary>The encoded input column the model reads.</summary>
    public string FeatureColumnName { get; }

    /// <summary>The row-embedding column this model adds (<see cref="MixerTrainerOptions.EmbeddingColumnName"/>), or null.</summary>
    public string? EmbeddingColumnName { get; }

    /// <summary>Width of the row-embedding column.</summary>
    internal int EmbeddingWidth => Network.RepresentationWidth;

    /// <summary>Floats per row that <see cref="ScoreTokens"/> returns: the raw outputs, then the embedding when there is one.</summary>
    internal int RawWidth => shape.Outputs + (EmbeddingColumnName is null ? 0 : EmbeddingWidth);

    /// <summary>Number of classes: 2 for binary classification, K for multiclass, 1 for regression.</summary>
    public int ClassCount => prediction.ClassCount;

    /// <summary>The trained network in eval mode; its forward pass gives raw outputs (see <see cref="Outputs"/>).</summary>
    internal TabularModel Network { get; }

    /// <summary>Where <see cref="Network"/> lives.</summary>
    internal Device Device { get; }

    /// <summary>Token positions per encoded row (T).</summary>
    internal int SequenceLength => shape.SequenceLength;

    /// <summary>Token ids the network embeds (V).</summary>
    internal int VocabularySize => shape.VocabularySize;

    internal TabularModelConfig Shape => shape;

    /// <summary>Regression: Score = Mean + Std * output. (0, 1) for classification.</summary>
    internal (double Mean, double Std) TargetScaling { get; }

    /// <summary>
    /// Raw network outputs for token ids [B, T] (int64, token id = key - 1), on the input's device: binary logit [B, 1],
    /// multiclass logits [B, K], regression standardised value [B, 1]. Gradient mode is the caller's.
    /// </summary>
    internal Tensor Outputs(Tensor tokenIds)
    {
        if (tokenIds.dim() != 2 || tokenIds.shape[1] != SequenceLength)
            throw new ArgumentException($"Expected token ids of shape [batch, {SequenceLength}], got [{string.Join(", ", tokenIds.shape)}].", nameof(tokenIds));
        var inputDevice = tokenIds.device;
        var outputs = Network.forward(tokenIds.to(ScalarType.Int64).to(Device));
        return outputs.device == inputDevice ? outputs : outputs.to(inputDevice);
    }

    /// <summary>
    /// Raw outputs of <paramref name="rows"/> rows of token ids, row-major [rows, <see cref="RawWidth"/>] on the CPU:
    /// each row's outputs followed by its embedding when the model adds one.
    /// </summary>
    internal float[] ScoreTokens(long[] tokenIds, int rows)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        using var scope = NewDisposeScope();
        using var inference = inference_mode();  // lighter than no_grad: no version counters or view tracking
        var ids = tensor(tokenIds.AsSpan(0, rows * SequenceLength).ToArray(), [rows, SequenceLength], device: Device);
        if (EmbeddingColumnName is null)
            return Network.forward(ids).to(ScalarType.Float32).cpu().data<float>().ToArray();
        var (outputs, representation) = Network.ForwardWithRepresentation(ids);
        return cat([outputs, representation], 1).to(ScalarType.Float32).cpu().data<float>().ToArray();
    }

    /// <summary>Scores the input in batches of rows through the network.</summary>
    public new IDataView Transform(IDataView input)
    {
        Host.CheckValue(input, nameof(input));
        CheckFeatureColumn(input.Schema);
        return new BatchScoringDataView(this, input);
    }

    /// <inheritdoc/>
    public new DataViewSchema GetOutputSchema(DataViewSchema inputSchema)
    {
        Host.CheckValue(inputSchema, nameof(inputSchema));
        CheckFeatureColumn(inputSchema);
        var builder = new DataViewSchema.Builder();
        builder.AddColumns(inputSchema);
        foreach (var column in OutputColumns(inputSchema))
            builder.AddColumn(column.Name, column.Type, column.Annotations);
        return builder.ToSchema();
    }

    internal int CheckFeatureColumn(DataViewSchema schema)
    {
        if (!schema.TryGetColumnIndex(FeatureColumnName, out int index))
            throw Host.ExceptSchemaMismatch(nameof(schema), "feature", FeatureColumnName);
        var type = schema[index].Type;
        if (type is not VectorDataViewType { ItemType: KeyDataViewType key } vector || vector.Size != SequenceLength || key.RawType != typeof(uint)
            || (int)key.Count != VocabularySize)
        {
            throw Host.ExceptSchemaMismatch(nameof(schema), "feature", FeatureColumnName,
                $"Vector<Key<UInt32, 0-{VocabularySize - 1}>, {SequenceLength}> (the EncodeAsCharacters output the model was trained on)", type.ToString());
        }
        return index;
    }

    /// <summary>The prediction columns, with the scorer annotations ML.NET's evaluators look for.</summary>
    internal DataViewSchema.DetachedColumn[] OutputColumns(DataViewSchema inputSchema) => EmbeddingColumnName is null
        ? prediction.Columns(inputSchema)
        : [.. prediction.Columns(inputSchema), new DataViewSchema.DetachedColumn(EmbeddingColumnName, new VectorDataViewType(NumberDataViewType.Single, EmbeddingWidth))];

    /// <summary>The prediction columns of a model of <paramref name="task"/> (also those of its ONNX scoring pipeline).</summary>
    internal static DataViewSchema.DetachedColumn[] OutputColumns(DataViewSchema inputSchema, MixerTask task, int classCount,
                                                                  DataViewSchema.Annotations? labelKeyValues)
        => TaskPrediction.For(task, classCount, (0, 1), labelKeyValues, labelKeyValues is null ? null : LabelKeyValueTexts(labelKeyValues)).Columns(inputSchema);

    /// <summary>The label's KeyValues annotation (multiclass); null when it had none.</summary>
    internal DataViewSchema.Annotations? LabelKeyValues => labelKeyValues;

    /// <summary>Column getters over precomputed raw outputs: <paramref name="rawOf"/> gives the current row's outputs.</summary>
    internal Delegate[] MakeOutputGetters(Func<int, bool> activeOutput, Func<ReadOnlyMemory<float>> rawOf)
    {
        int outputs = shape.Outputs;
        var getters = prediction.Getters(activeOutput, () => rawOf()[..outputs]);
        if (EmbeddingColumnName is null)
            return getters;
        int width = EmbeddingWidth;
        var embedding = activeOutput(getters.Length) ? (ValueGetter<VBuffer<float>>)((ref VBuffer<float> dst) =>
        {
            var editor = VBufferEditor.Create(ref dst, width);
            rawOf().Span.Slice(outputs, width).CopyTo(editor.Values);
            dst = editor.Commit();
        }) : null!;
        return [.. getters, embedding];
    }

    private static ReadOnlyMemory<char>[] LabelKeyValueTexts(DataViewSchema.Annotations keyValues)
    {
        var itemType = ((VectorDataViewType)keyValues.Schema[AnnotationUtils.Kinds.KeyValues].Type).ItemType.RawType;
        return Utils.MarshalInvoke(KeyValueTextsOfType, itemType, keyValues);
    }

    private static ReadOnlyMemory<char>[] KeyValueTexts<T>(DataViewSchema.Annotations keyValues)
    {
        VBuffer<T> values = default;
        keyValues.GetValue(AnnotationUtils.Kinds.KeyValues, ref values);
        return values.DenseValues().Select(v => (v?.ToString() ?? "").AsMemory()).ToArray();
    }

    private static VersionInfo GetVersionInfo() => new(
        modelSignature: "MXPREDCT",
        verWrittenCur: 0x00010004, // the model shape's positions per token (wide tables)
        verReadableCur: 0x00010004,
        verWeCanReadBack: 0x00010001,
        loaderSignature: LoaderSignature,
        loaderAssemblyName: typeof(MixerPredictionTransformer).Assembly.FullName);

    /// <summary>Writes the task, the network's shape and weights, and the label's key values into the model zip.</summary>
    public override void SaveModel(ModelSaveContext ctx)
    {
        Host.CheckValue(ctx, nameof(ctx));
        ObjectDisposedException.ThrowIf(disposed, this);
        ctx.CheckAtModel();
        ctx.SetVersionInfo(GetVersionInfo());
        var w = ctx.Writer;
        w.Write((int)Task);
        w.Write(FeatureColumnName);
        shape.Save(w);
        w.Write((int)requestedDevice);
        w.Write(TargetScaling.Mean);
        w.Write(TargetScaling.Std);
        w.Write(labelKeyValues is not null);
        if (labelKeyValues is not null)
            SaveKeyValues(ctx, labelKeyValues);
        w.Write(EmbeddingColumnName ?? "");
        ctx.SaveModule("Network", Network);
    }

    private void SaveKeyValues(ModelSaveContext ctx, DataViewSchema.Annotations keyValues) => SaveKeyValues(Host, ctx, keyValues);

    /// <summary>Writes a label's KeyValues annotation (type and values) at the writer's position.</summary>
    internal static void SaveKeyValues(IHost host, ModelSaveContext ctx, DataViewSchema.Annotations keyValues)
    {
        var type = (VectorDataViewType)keyValues.Schema[AnnotationUtils.Kinds.KeyValues].Type;
        var saver = new BinarySaver(host, new BinarySaver.Arguments());
        if (!Utils.MarshalInvoke(SaveKeyValuesOfType, type.ItemType.RawType, saver, (ctx.Writer.BaseStream, keyValues)))
            throw host.Except($"The label's key values of type {type.ItemType} cannot be saved.");
    }

    /// <summary>Reads what <see cref="SaveKeyValues(IHost, ModelSaveContext, DataViewSchema.Annotations)"/> wrote.</summary>
    internal static DataViewSchema.Annotations LoadKeyValues(IHostEnvironment env, ModelLoadContext ctx)
    {
        var saver = new BinarySaver(env, new BinarySaver.Arguments());
        if (!saver.TryLoadTypeAndValue(ctx.Reader.BaseStream, out var type, out var value) || type is not VectorDataViewType vector)
            throw Contracts.ExceptDecode("The mixer model's label key values could not be read.");
        return KeyValuesAnnotation(vector, value);
    }

    private static bool SaveKeyValuesOf<T>(BinarySaver saver, (Stream Stream, DataViewSchema.Annotations KeyValues) target)
    {
        var type = target.KeyValues.Schema[AnnotationUtils.Kinds.KeyValues].Type;
        VBuffer<T> values = default;
        target.KeyValues.GetValue(AnnotationUtils.Kinds.KeyValues, ref values);
        return saver.TryWriteTypeAndValue(target.Stream, type, ref values, out _);
    }

    private static MixerPredictionTransformer Create(IHostEnvironment env, ModelLoadContext ctx)
    {
        Contracts.CheckValue(env, nameof(env));
        return Persistence.ModelFormat.Read(ctx, GetVersionInfo(), "mixer predictor", () => Read(env, ctx));
    }

    private static MixerPredictionTransformer Read(IHostEnvironment env, ModelLoadContext ctx)
    {
        var r = ctx.Reader;
        var task = (MixerTask)r.ReadInt32();
        string featureColumn = r.ReadString();
        var shape = TabularModelConfig.Load(r, withValueTokens: ctx.Header.ModelVerWritten >= 0x00010002, withGrouping: ctx.Header.ModelVerWritten >= 0x00010004);
        var requested = (MixerDevice)r.ReadInt32();
        double mean = r.ReadDouble(), std = r.ReadDouble();
        DataViewSchema.Annotations? keyValues = null;
        if (r.ReadBoolean())
            keyValues = LoadKeyValues(env, ctx);
        string? embedding = ctx.Header.ModelVerWritten >= 0x00010003 ? r.ReadString() : "";
        var device = TorchRuntime.ResolveDevice(env, requested);
        var network = shape.Create();
        ctx.LoadModule("Network", network, shape.RenamedWeight);
        network.to(device);
        return new MixerPredictionTransformer(env, task, featureColumn, shape, network, requested, device, (mean, std), keyValues,
            embedding.Length == 0 ? null : embedding);
    }

    private static IRowMapper Create(IHostEnvironment env, ModelLoadContext ctx, DataViewSchema inputSchema)
        => Create(env, ctx).MakeRowMapper(inputSchema);

    internal static DataViewSchema.Annotations KeyValuesAnnotation(VectorDataViewType type, object value)
        => Utils.MarshalInvoke(KeyValuesAnnotationOfType, type.ItemType.RawType, type, value);

    private static DataViewSchema.Annotations KeyValuesAnnotationOf<T>(VectorDataViewType type, object value)
    {
        var values = (VBuffer<T>)value;
        var builder = new DataViewSchema.Annotations.Builder();
        builder.Add(AnnotationUtils.Kinds.KeyValues, type, (ref VBuffer<T> dst) => values.CopyTo(ref dst));
        return builder.ToAnnotations();
    }

    /// <summary>The single-row mapper (PredictionEngine, and ML.NET's row-to-row plumbing).</summary>
    public override IRowMapper MakeRowMapper(DataViewSchema schema) => new Mapper(this, schema);

    /// <summary>Releases the network's native memory.</summary>
    public void Dispose()
    {
        if (disposed)
            return;
        disposed = true;
        Network.Dispose();
    }

    /// <summary>Reads one row's keys as token ids into a buffer, checking the values.</summary>
    internal static void CopyTokenIds(in VBuffer<uint> keys, Span<long> destination, int vocabularySize, string column)
    {
        if (keys.Length != destination.Length)
            throw new InvalidOperationException($"Column '{column}' holds {keys.Length} tokens per row; the model reads {destination.Length}.");
        int i = 0;
        foreach (uint key in keys.DenseValues())
        {
            if (key == 0 || key > vocabularySize)
                throw new InvalidOperationException($"Column '{column}' holds key {key} at slot {i}, outside 1..{vocabularySize}: the features must come from EncodeAsCharacters.");
            destination[i++] = key - 1;
        }
    }

    private sealed class Mapper : MapperBase
    {
        private readonly MixerPredictionTransformer parent;
        private readonly int featureIndex;

        public Mapper(MixerPredictionTransformer parent, DataViewSchema schema) : base(parent.Host, schema, parent)
        {
            this.parent = parent;
            featureIndex = parent.CheckFeatureColumn(schema);
        }

        public override DataViewSchema.DetachedColumn[] GetOutputColumnsCore() => parent.OutputColumns(InputSchema);

        public override Func<int, bool> GetDependenciesCore(Func<int, bool> activeOutput)
        {
            bool any = Enumerable.Range(0, parent.OutputColumns(InputSchema).Length).Any(activeOutput);
            return col => any && col == featureIndex;
        }

        public override Delegate MakeGetter(DataViewRow input, int iinfo, Func<int, bool> activeOutput, out Action disposer)
            => throw new InvalidOperationException("Getters are made together by CreateGetters.");

        public override Delegate[] CreateGetters(DataViewRow input, Func<int, bool> activeOutput, out Action disposer)
        {
            disposer = null!;
            // One network call per row, shared by the row's columns; each getter set has its own buffers, so one
            // PredictionEngine per thread is safe.
            var getFeatures = input.GetGetter<VBuffer<uint>>(input.Schema[featureIndex]);
            VBuffer<uint> keys = default;
            var ids = new long[parent.SequenceLength];
            long cachedPosition = -1;
            float[] raw = [];
            ReadOnlyMemory<float> RawOf()
            {
                if (cachedPosition != input.Position || raw.Length == 0)
                {
                    getFeatures(ref keys);
                    CopyTokenIds(keys, ids, parent.VocabularySize, parent.FeatureColumnName);
                    raw = parent.ScoreTokens(ids, 1);
                    cachedPosition = input.Position;
                }
                return raw;
            }
            return parent.MakeOutputGetters(activeOutput, RawOf);
        }

        public override void SaveModel(ModelSaveContext ctx) => parent.SaveModel(ctx);
    }
}
