using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNetMixers;
using MLNetMixers.Onnx;

[assembly: LoadableClass(typeof(MixerOnnxOutputTransformer), null, typeof(SignatureLoadModel),
    "Mixer ONNX outputs", MixerOnnxOutputTransformer.LoaderSignature)]
[assembly: LoadableClass(typeof(IRowMapper), typeof(MixerOnnxOutputTransformer), null, typeof(SignatureLoadRowMapper),
    "Mixer ONNX outputs", MixerOnnxOutputTransformer.LoaderSignature)]

namespace MLNetMixers.Onnx;

/// <summary>
/// The last step of an ONNX scoring pipeline: turns the exported graph's outputs, which ML.NET's <c>ApplyOnnxModel</c>
/// gives as vectors, into the prediction columns <see cref="MixerPredictionTransformer"/> writes (Score, Probability,
/// PredictedLabel, with the same types and scorer annotations), so evaluators and PredictionEngine classes written
/// for the TorchSharp model work unchanged. Managed code only: it never touches TorchSharp.
/// </summary>
internal sealed class MixerOnnxOutputTransformer : RowToRowTransformerBase
{
    internal const string LoaderSignature = "MixerOnnxOutputs";

    private readonly MixerTask task;
    private readonly int classCount;
    private readonly DataViewSchema.Annotations? labelKeyValues;

    internal MixerOnnxOutputTransformer(IHostEnvironment env, MixerTask task, int classCount, DataViewSchema.Annotations? labelKeyValues)
        : base(Contracts.CheckRef(env, nameof(env)).Register(nameof(MixerOnnxOutputTransformer)))
    {
        this.task = task;
        this.classCount = classCount;
        this.labelKeyValues = labelKeyValues;
    }

    /// <summary>The ONNX graph outputs this step reads, by task.</summary>
    internal static string[] OnnxOutputs(MixerTask task) => task switch
    {
        MixerTask.BinaryClassification => [TabularOnnxExporter.ScoreName, TabularOnnxExporter.ProbabilityName, TabularOnnxExporter.PredictedLabelName],
        MixerTask.MulticlassClassification => [TabularOnnxExporter.ScoreName, TabularOnnxExporter.PredictedLabelName],
        _ => [TabularOnnxExporter.ScoreName],
    };

    private static VersionInfo GetVersionInfo() => new(
        modelSignature: "MXONNXOU",
        verWrittenCur: 0x00010001,
        verReadableCur: 0x00010001,
        verWeCanReadBack: 0x00010001,
        loaderSignature: LoaderSignature,
        loaderAssemblyName: typeof(MixerOnnxOutputTransformer).Assembly.FullName);

    public override void SaveModel(ModelSaveContext ctx)
    {
        Host.CheckValue(ctx, nameof(ctx));
        ctx.CheckAtModel();
        ctx.SetVersionInfo(GetVersionInfo());
        ctx.Writer.Write((int)task);
        ctx.Writer.Write(classCount);
        ctx.Writer.Write(labelKeyValues is not null);
        if (labelKeyValues is not null)
            MixerPredictionTransformer.SaveKeyValues(Host, ctx, labelKeyValues);
    }

    private static MixerOnnxOutputTransformer Create(IHostEnvironment env, ModelLoadContext ctx)
    {
        Contracts.CheckValue(env, nameof(env));
        return Persistence.ModelFormat.Read(ctx, GetVersionInfo(), "ONNX output step", () => Read(env, ctx));
    }

    private static MixerOnnxOutputTransformer Read(IHostEnvironment env, ModelLoadContext ctx)
    {
        var task = (MixerTask)ctx.Reader.ReadInt32();
        int classCount = ctx.Reader.ReadInt32();
        var keyValues = ctx.Reader.ReadBoolean() ? MixerPredictionTransformer.LoadKeyValues(env, ctx) : null;
        return new MixerOnnxOutputTransformer(env, task, classCount, keyValues);
    }

    private static IRowMapper Create(IHostEnvironment env, ModelLoadContext ctx, DataViewSchema inputSchema)
        => Create(env, ctx).MakeRowMapper(inputSchema);

    public override IRowMapper MakeRowMapper(DataViewSchema schema) => new Mapper(this, schema);

    private sealed class Mapper : MapperBase
    {
        private readonly MixerOnnxOutputTransformer parent;
        private readonly int[] sources;

        public Mapper(MixerOnnxOutputTransformer parent, DataViewSchema schema) : base(parent.Host, schema, parent)
        {
            this.parent = parent;
            sources = OnnxOutputs(parent.task).Select(name =>
            {
                var column = schema.GetColumnOrNull(name)
                    ?? throw parent.Host.ExceptSchemaMismatch(nameof(schema), "ONNX output", name);
                if (column.Type is not VectorDataViewType)
                    throw parent.Host.ExceptSchemaMismatch(nameof(schema), "ONNX output", name, "a vector (ApplyOnnxModel's output)", column.Type.ToString());
                return column.Index;
            }).ToArray();
        }

        public override DataViewSchema.DetachedColumn[] GetOutputColumnsCore()
            => MixerPredictionTransformer.OutputColumns(InputSchema, parent.task, parent.classCount, parent.labelKeyValues);

        public override Func<int, bool> GetDependenciesCore(Func<int, bool> activeOutput)
        {
            bool any = Enumerable.Range(0, OnnxOutputs(parent.task).Length).Any(activeOutput);
            return col => any && sources.Contains(col);
        }

        public override Delegate MakeGetter(DataViewRow input, int iinfo, Func<int, bool> activeOutput, out Action disposer)
        {
            disposer = null!;
            var source = input.Schema[sources[iinfo]];
            switch (parent.task, iinfo)
            {
                case (MixerTask.MulticlassClassification, 0):
                    return input.GetGetter<VBuffer<float>>(source);
                case (MixerTask.MulticlassClassification, 1):
                {
                    var get = input.GetGetter<VBuffer<long>>(source);
                    VBuffer<long> index = default;
                    return (ValueGetter<uint>)((ref uint dst) =>
                    {
                        get(ref index);
                        dst = (uint)First(index, source.Name) + 1; // the class index -> its key
                    });
                }
                case (MixerTask.BinaryClassification, 2):
                {
                    var get = input.GetGetter<VBuffer<bool>>(source);
                    VBuffer<bool> value = default;
                    return (ValueGetter<bool>)((ref bool dst) =>
                    {
                        get(ref value);
                        dst = First(value, source.Name);
                    });
                }
                default:
                {
                    var get = input.GetGetter<VBuffer<float>>(source);
                    VBuffer<float> value = default;
                    return (ValueGetter<float>)((ref float dst) =>
                    {
                        get(ref value);
                        dst = First(value, source.Name);
                    });
                }
            }
        }

        private static T First<T>(in VBuffer<T> values, string column)
        {
            if (values.Length != 1)
                throw new InvalidOperationException($"The ONNX output '{column}' holds {values.Length} values for one row; the exported mixer writes one.");
            return values.GetItemOrDefault(0);
        }

        public override void SaveModel(ModelSaveContext ctx) => parent.SaveModel(ctx);
    }
}
