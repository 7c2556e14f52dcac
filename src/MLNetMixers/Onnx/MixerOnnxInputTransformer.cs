using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNetMixers;
using MLNetMixers.Onnx;

[assembly: LoadableClass(typeof(MixerOnnxInputTransformer), null, typeof(SignatureLoadModel),
    "Mixer ONNX input", MixerOnnxInputTransformer.LoaderSignature)]
[assembly: LoadableClass(typeof(IRowMapper), typeof(MixerOnnxInputTransformer), null, typeof(SignatureLoadRowMapper),
    "Mixer ONNX input", MixerOnnxInputTransformer.LoaderSignature)]

namespace MLNetMixers.Onnx;

/// <summary>
/// The step before <c>ApplyOnnxModel</c> in an ONNX scoring pipeline: the encoded features (a vector of keys, token id
/// + 1) as the graph's int64 token ids, checked as the TorchSharp model checks them. ML.NET's <c>ConvertType</c> does not
/// turn keys into numbers, and <c>ApplyOnnxModel</c> reads no keys. Managed code only.
/// </summary>
internal sealed class MixerOnnxInputTransformer : RowToRowTransformerBase
{
    internal const string LoaderSignature = "MixerOnnxInput";

    private readonly string featureColumnName;
    private readonly int sequenceLength;
    private readonly int vocabularySize;

    internal MixerOnnxInputTransformer(IHostEnvironment env, string featureColumnName, int sequenceLength, int vocabularySize)
        : base(Contracts.CheckRef(env, nameof(env)).Register(nameof(MixerOnnxInputTransformer)))
    {
        this.featureColumnName = featureColumnName;
        this.sequenceLength = sequenceLength;
        this.vocabularySize = vocabularySize;
    }

    private static VersionInfo GetVersionInfo() => new(
        modelSignature: "MXONNXIN",
        verWrittenCur: 0x00010001,
        verReadableCur: 0x00010001,
        verWeCanReadBack: 0x00010001,
        loaderSignature: LoaderSignature,
        loaderAssemblyName: typeof(MixerOnnxInputTransformer).Assembly.FullName);

    public override void SaveModel(ModelSaveContext ctx)
    {
        Host.CheckValue(ctx, nameof(ctx));
        ctx.CheckAtModel();
        ctx.SetVersionInfo(GetVersionInfo());
        ctx.Writer.Write(featureColumnName);
        ctx.Writer.Write(sequenceLength);
        ctx.Writer.Write(vocabularySize);
    }

    private static MixerOnnxInputTransformer Create(IHostEnvironment env, ModelLoadContext ctx)
    {
        Contracts.CheckValue(env, nameof(env));
        return Persistence.ModelFormat.Read(ctx, GetVersionInfo(), "ONNX input step", () => Read(env, ctx));
    }

    private static MixerOnnxInputTransformer Read(IHostEnvironment env, ModelLoadContext ctx)
    {
        return new MixerOnnxInputTransformer(env, ctx.Reader.ReadString(), ctx.Reader.ReadInt32(), ctx.Reader.ReadInt32());
    }

    private static IRowMapper Create(IHostEnvironment env, ModelLoadContext ctx, DataViewSchema inputSchema)
        => Create(env, ctx).MakeRowMapper(inputSchema);

    public override IRowMapper MakeRowMapper(DataViewSchema schema) => new Mapper(this, schema);

    private sealed class Mapper : MapperBase
    {
        private readonly MixerOnnxInputTransformer parent;
        private readonly int source;

        public Mapper(MixerOnnxInputTransformer parent, DataViewSchema schema) : base(parent.Host, schema, parent)
        {
            this.parent = parent;
            var column = schema.GetColumnOrNull(parent.featureColumnName)
                ?? throw parent.Host.ExceptSchemaMismatch(nameof(schema), "feature", parent.featureColumnName);
            if (column.Type is not VectorDataViewType { ItemType: KeyDataViewType key } vector || vector.Size != parent.sequenceLength
                || key.RawType != typeof(uint) || (int)key.Count != parent.vocabularySize)
            {
                throw parent.Host.ExceptSchemaMismatch(nameof(schema), "feature", parent.featureColumnName,
                    $"Vector<Key<UInt32, 0-{parent.vocabularySize - 1}>, {parent.sequenceLength}> (the EncodeAsCharacters output the model was trained on)",
                    column.Type.ToString());
            }
            source = column.Index;
        }

        public override DataViewSchema.DetachedColumn[] GetOutputColumnsCore()
            => [new(TabularOnnxExporter.InputName, new VectorDataViewType(NumberDataViewType.Int64, parent.sequenceLength))];

        public override Func<int, bool> GetDependenciesCore(Func<int, bool> activeOutput)
            => col => activeOutput(0) && col == source;

        public override Delegate MakeGetter(DataViewRow input, int iinfo, Func<int, bool> activeOutput, out Action disposer)
        {
            disposer = null!;
            var get = input.GetGetter<VBuffer<uint>>(input.Schema[source]);
            VBuffer<uint> keys = default;
            int length = parent.sequenceLength;
            return (ValueGetter<VBuffer<long>>)((ref VBuffer<long> dst) =>
            {
                get(ref keys);
                var editor = VBufferEditor.Create(ref dst, length);
                MixerPredictionTransformer.CopyTokenIds(keys, editor.Values, parent.vocabularySize, parent.featureColumnName);
                dst = editor.Commit();
            });
        }

        public override void SaveModel(ModelSaveContext ctx) => parent.SaveModel(ctx);
    }
}
