using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNetMixers;
using MLNetMixers.Text;

[assembly: LoadableClass(typeof(MixerSurprisalTransformer), null, typeof(SignatureLoadModel),
    "Mixer surprisal", MixerSurprisalTransformer.LoaderSignature)]
[assembly: LoadableClass(typeof(IRowMapper), typeof(MixerSurprisalTransformer), null, typeof(SignatureLoadRowMapper),
    "Mixer surprisal", MixerSurprisalTransformer.LoaderSignature)]

namespace MLNetMixers;

/// <summary>
/// Estimator of <see cref="MixerSurprisalTransformer"/>: nothing to learn, the language model is already trained.
/// Create it with <c>mlContext.Transforms.Text.ComputeSurprisal</c>.
/// </summary>
public sealed class MixerSurprisalEstimator : TrivialEstimator<MixerSurprisalTransformer>
{
    internal MixerSurprisalEstimator(IHostEnvironment env, MixerSurprisalTransformer transformer)
        : base(Contracts.CheckRef(env, nameof(env)).Register(nameof(MixerSurprisalEstimator)), transformer)
    {
    }

    /// <summary>Checks the text column and adds the surprisal vector and the bits-per-byte column.</summary>
    public override SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        Host.CheckValue(inputSchema, nameof(inputSchema));
        string input = Transformer.InputColumnName;
        if (!inputSchema.TryFindColumn(input, out var column))
            throw Host.ExceptSchemaMismatch(nameof(inputSchema), "text", input);
        if (column.Kind != SchemaShape.Column.VectorKind.Scalar || column.ItemType is not TextDataViewType)
            throw Host.ExceptSchemaMismatch(nameof(inputSchema), "text", input, "String", column.GetTypeString());
        var columns = inputSchema.ToDictionary(c => c.Name);
        columns[Transformer.OutputColumnName] = new SchemaShape.Column(Transformer.OutputColumnName,
            SchemaShape.Column.VectorKind.VariableVector, NumberDataViewType.Single, false);
        columns[Transformer.BitsPerByteColumnName] = new SchemaShape.Column(Transformer.BitsPerByteColumnName,
            SchemaShape.Column.VectorKind.Scalar, NumberDataViewType.Single, false);
        return new SchemaShape(columns.Values);
    }
}

/// <summary>
/// Adds, for a text column, the bits each token costs under a trained mixer language model (−log2 p of the token
/// given end of text and the tokens before it; a variable-length Single vector, one value per token) and the row's
/// bits per UTF-8 byte (NaN for an empty text). Saves the language model inside its own model zip.
/// </summary>
public sealed class MixerSurprisalTransformer : RowToRowTransformerBase
{
    internal const string LoaderSignature = "MixerSurprisal";
    private const string LanguageModelDirectory = "LanguageModel";

    internal MixerSurprisalTransformer(IHostEnvironment env, MixerLanguageModelTransformer languageModel, string inputColumnName,
                                       string outputColumnName, string bitsPerByteColumnName)
        : base(Contracts.CheckRef(env, nameof(env)).Register(nameof(MixerSurprisalTransformer)))
    {
        languageModel.RequireCausal("score tokens one by one (its memory code is paid per window: use Evaluate or Compress)");
        LanguageModel = languageModel;
        InputColumnName = inputColumnName;
        OutputColumnName = outputColumnName;
        BitsPerByteColumnName = bitsPerByteColumnName;
    }

    /// <summary>The model whose surprisal is measured.</summary>
    public MixerLanguageModelTransformer LanguageModel { get; }

    /// <summary>The text column read.</summary>
    public string InputColumnName { get; }

    /// <summary>The vector column of bits per token.</summary>
    public string OutputColumnName { get; }

    /// <summary>The scalar column of bits per byte.</summary>
    public string BitsPerByteColumnName { get; }

    private static VersionInfo GetVersionInfo() => new(
        modelSignature: "MXSURPRS",
        verWrittenCur: 0x00010001,
        verReadableCur: 0x00010001,
        verWeCanReadBack: 0x00010001,
        loaderSignature: LoaderSignature,
        loaderAssemblyName: typeof(MixerSurprisalTransformer).Assembly.FullName);

    /// <summary>Writes the column names and the language model.</summary>
    public override void SaveModel(ModelSaveContext ctx)
    {
        Host.CheckValue(ctx, nameof(ctx));
        ctx.CheckAtModel();
        ctx.SetVersionInfo(GetVersionInfo());
        ctx.Writer.Write(InputColumnName);
        ctx.Writer.Write(OutputColumnName);
        ctx.Writer.Write(BitsPerByteColumnName);
        ctx.SaveModel(LanguageModel, LanguageModelDirectory);
    }

    private static MixerSurprisalTransformer Create(IHostEnvironment env, ModelLoadContext ctx)
    {
        Contracts.CheckValue(env, nameof(env));
        return Persistence.ModelFormat.Read(ctx, GetVersionInfo(), "surprisal scorer", () => Read(env, ctx));
    }

    private static MixerSurprisalTransformer Read(IHostEnvironment env, ModelLoadContext ctx)
    {
        string input = ctx.Reader.ReadString(), output = ctx.Reader.ReadString(), bitsPerByte = ctx.Reader.ReadString();
        ctx.LoadModel<MixerLanguageModelTransformer, SignatureLoadModel>(env, out var languageModel, LanguageModelDirectory);
        return new MixerSurprisalTransformer(env, languageModel, input, output, bitsPerByte);
    }

    private static IRowMapper Create(IHostEnvironment env, ModelLoadContext ctx, DataViewSchema inputSchema)
        => Create(env, ctx).MakeRowMapper(inputSchema);

    /// <summary>Binds to a schema with the text column (scalar String).</summary>
    public override IRowMapper MakeRowMapper(DataViewSchema schema) => new Mapper(this, schema, TextColumn.Bind(Host, schema, InputColumnName));

    private sealed class Mapper : MapperBase
    {
        private readonly MixerSurprisalTransformer parent;
        private readonly int textIndex;

        public Mapper(MixerSurprisalTransformer parent, DataViewSchema schema, int textIndex) : base(parent.Host, schema, parent)
        {
            this.parent = parent;
            this.textIndex = textIndex;
        }

        public override DataViewSchema.DetachedColumn[] GetOutputColumnsCore() =>
        [
            new DataViewSchema.DetachedColumn(parent.OutputColumnName, new VectorDataViewType(NumberDataViewType.Single)),
            new DataViewSchema.DetachedColumn(parent.BitsPerByteColumnName, NumberDataViewType.Single),
        ];

        public override Func<int, bool> GetDependenciesCore(Func<int, bool> activeOutput)
            => col => (activeOutput(0) || activeOutput(1)) && col == textIndex;

        public override Delegate MakeGetter(DataViewRow input, int iinfo, Func<int, bool> activeOutput, out Action disposer)
        {
            disposer = null!;
            // One forward pass per row, however many of the two columns ask for it.
            var current = TextColumn.PerRow(input, textIndex, parent.LanguageModel.MeasureSurprisal);
            if (iinfo == 0)
                return TextColumn.VectorGetter(() => current().Bits);
            ValueGetter<float> bitsPerByte = (ref float dst) => dst = (float)current().BitsPerByte;
            return bitsPerByte;
        }

        public override void SaveModel(ModelSaveContext ctx) => parent.SaveModel(ctx);
    }
}
