using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNetMixers;
using MLNetMixers.Models;
using MLNetMixers.Persistence;
using MLNetMixers.Retrieval;
using MLNetMixers.Text;
using MLNetMixers.Training;
using TorchSharp;
using static TorchSharp.torch;

[assembly: LoadableClass(typeof(MixerEmbeddingTransformer), null, typeof(SignatureLoadModel),
    "Mixer text embedding", MixerEmbeddingTransformer.LoaderSignature)]
[assembly: LoadableClass(typeof(IRowMapper), typeof(MixerEmbeddingTransformer), null, typeof(SignatureLoadRowMapper),
    "Mixer text embedding", MixerEmbeddingTransformer.LoaderSignature)]

namespace MLNetMixers;

/// <summary>
/// Turns text columns into unit-length <c>Vector&lt;Single&gt;</c> embedding columns with a causal language model
/// (any architecture) pooled over its final hidden states: cosine similarity is then a dot product, and the columns feed
/// clustering, k-NN or any downstream trainer. A retriever (<c>TrainMixerRetrieval</c>) has a query tower and a document
/// tower (one shared model or two); each output column is added when its input column is present. Immutable; saves into
/// and loads from the ML.NET model zip.
/// </summary>
public sealed class MixerEmbeddingTransformer : RowToRowTransformerBase, IDisposable
{
    internal const string LoaderSignature = "MixerTextEmbedding";
    private const string QueryWeightsStream = "QueryTowerWeights";
    private const string DocumentWeightsStream = "DocumentTowerWeights";

    private readonly TextEmbedder queryTower;
    private readonly TextEmbedder documentTower;
    private readonly EmbeddingColumn[] columns;
    // Torch modules are not safe to run from several cursors at once.
    private readonly object gate = new();

    internal MixerEmbeddingTransformer(IHostEnvironment env, TextEmbedder queryTower, TextEmbedder documentTower, EmbeddingColumn[] columns)
        : base(Contracts.CheckRef(env, nameof(env)).Register(nameof(MixerEmbeddingTransformer)))
    {
        this.queryTower = queryTower;
        this.documentTower = documentTower;
        this.columns = columns;
        queryTower.Model.eval();
        documentTower.Model.eval();
    }

    /// <summary>An input text column, the embedding column made from it, and which tower reads it.</summary>
    internal sealed record EmbeddingColumn(string Input, string Output, bool Query);

    internal TextEmbedder QueryTower => queryTower;

    internal TextEmbedder DocumentTower => documentTower;

    /// <summary>Length D of every embedding.</summary>
    public int Dimension => queryTower.Dimension;

    /// <summary>How hidden states are pooled into one vector.</summary>
    public EmbeddingPooling Pooling => queryTower.Pooling;

    /// <summary>The token mixer of the towers' blocks.</summary>
    public MixerLanguageModelArchitecture Architecture => queryTower.Model.Config.Architecture;

    /// <summary>Whether queries and documents go through the same weights.</summary>
    public bool SharedTowers => ReferenceEquals(queryTower, documentTower);

    /// <summary>Trainable weights of both towers (counted once when shared).</summary>
    public long ParameterCount => queryTower.Model.ParameterCount + (SharedTowers ? 0 : documentTower.Model.ParameterCount);

    /// <summary>(input, output) column names this transformer maps.</summary>
    public IReadOnlyList<(string Input, string Output)> Columns => columns.Select(c => (c.Input, c.Output)).ToArray();

    /// <summary>Query embeddings, row-major [N, D] in one array.</summary>
    public float[] EmbedQueries(IReadOnlyList<string> queries) => Embed(queryTower, queries);

    /// <summary>Document embeddings, row-major [N, D] in one array.</summary>
    public float[] EmbedDocuments(IReadOnlyList<string> documents) => Embed(documentTower, documents);

    private float[] Embed(TextEmbedder tower, IReadOnlyList<string> texts)
    {
        Host.CheckValue(texts, nameof(texts));
        if (texts.Any(t => t is null))
            throw Host.ExceptParam(nameof(texts), "A text is null.");
        lock (gate)
            return tower.EmbedAll(texts);
    }

    /// <summary>Embeds the documents once (document tower) into a search index of one [N, D] matrix.</summary>
    public MixerSearchIndex CreateIndex(IReadOnlyList<string> documents)
        => new(EmbedDocuments(documents), Dimension, documents.ToArray(), this);

    /// <summary>Embeds every row of a text column of <paramref name="data"/> into a search index.</summary>
    /// <param name="data">The documents.</param>
    /// <param name="documentColumnName">Scalar text column; null means the document column the retriever was trained on.</param>
    public MixerSearchIndex CreateIndex(IDataView data, string? documentColumnName = null)
    {
        Host.CheckValue(data, nameof(data));
        string name = documentColumnName ?? columns.FirstOrDefault(c => !c.Query)?.Input ?? columns[0].Input;
        return CreateIndex(MixerLanguageModelEstimator.ReadDocuments(data, name));
    }

    /// <summary>Releases the towers' tensors.</summary>
    public void Dispose()
    {
        queryTower.Dispose();
        if (!SharedTowers)
            documentTower.Dispose();
    }

    private static VersionInfo GetVersionInfo() => new(
        modelSignature: "MXEMBEDT",
        verWrittenCur: 0x00010001,
        verReadableCur: 0x00010001,
        verWeCanReadBack: 0x00010001,
        loaderSignature: LoaderSignature,
        loaderAssemblyName: typeof(MixerEmbeddingTransformer).Assembly.FullName);

    /// <summary>Writes the columns, pooling, towers' shapes, tokenizers and weights into the model zip.</summary>
    public override void SaveModel(ModelSaveContext ctx)
    {
        Host.CheckValue(ctx, nameof(ctx));
        ctx.CheckAtModel();
        ctx.SetVersionInfo(GetVersionInfo());
        var w = ctx.Writer;
        w.Write(columns.Length);
        foreach (var c in columns)
        {
            w.Write(c.Input);
            w.Write(c.Output);
            w.Write(c.Query);
        }
        w.Write((byte)Pooling);
        w.Write(SharedTowers);
        queryTower.Model.Config.Save(w);
        queryTower.Tokenizer.Save(w);
        ctx.SaveModule(QueryWeightsStream, queryTower.Model);
        if (!SharedTowers)
        {
            documentTower.Model.Config.Save(w);
            documentTower.Tokenizer.Save(w);
            ctx.SaveModule(DocumentWeightsStream, documentTower.Model);
        }
    }

    private static MixerEmbeddingTransformer Create(IHostEnvironment env, ModelLoadContext ctx)
    {
        Contracts.CheckValue(env, nameof(env));
        return Persistence.ModelFormat.Read(ctx, GetVersionInfo(), "embedding model", () => Read(env, ctx));
    }

    private static MixerEmbeddingTransformer Read(IHostEnvironment env, ModelLoadContext ctx)
    {
        var r = ctx.Reader;
        var columns = new EmbeddingColumn[r.ReadInt32()];
        for (int i = 0; i < columns.Length; i++)
            columns[i] = new EmbeddingColumn(r.ReadString(), r.ReadString(), r.ReadBoolean());
        var pooling = (EmbeddingPooling)r.ReadByte();
        if (!Enum.IsDefined(pooling))
            throw Contracts.ExceptDecode($"Unknown pooling {(byte)pooling} in the model file.");
        bool shared = r.ReadBoolean();
        var device = TorchRuntime.ResolveDevice(env, MixerDevice.Auto);
        var query = LoadTower(ctx, r, QueryWeightsStream, pooling, device);
        var document = shared ? query : LoadTower(ctx, r, DocumentWeightsStream, pooling, device);
        return new MixerEmbeddingTransformer(env, query, document, columns);
    }

    private static TextEmbedder LoadTower(ModelLoadContext ctx, BinaryReader r, string stream, EmbeddingPooling pooling, Device device)
    {
        var config = LanguageModelConfig.Load(r);
        var tokenizer = TextTokenizer.Load(r);
        if (tokenizer.VocabularySize != config.VocabularySize)
            throw Contracts.ExceptDecode($"The saved tokenizer has {tokenizer.VocabularySize} tokens but the model {config.VocabularySize}.");
        var model = new LanguageModel(config);
        ctx.LoadModule(stream, model);
        model.to(device);
        return new TextEmbedder(model, tokenizer, pooling, device);
    }

    private static IRowMapper Create(IHostEnvironment env, ModelLoadContext ctx, DataViewSchema inputSchema)
        => Create(env, ctx).MakeRowMapper(inputSchema);

    /// <summary>Binds every input column present in <paramref name="schema"/> (each must be scalar String); at least one must be.</summary>
    public override IRowMapper MakeRowMapper(DataViewSchema schema)
    {
        Host.CheckValue(schema, nameof(schema));
        var bound = new List<(EmbeddingColumn Column, int Index)>();
        foreach (var c in columns)
        {
            if (!schema.TryGetColumnIndex(c.Input, out int index))
                continue;
            if (schema[index].Type is not TextDataViewType)
                throw Host.ExceptSchemaMismatch(nameof(schema), c.Query ? "query" : "text", c.Input, "String", schema[index].Type.ToString());
            bound.Add((c, index));
        }
        if (bound.Count == 0)
            throw Host.ExceptSchemaMismatch(nameof(schema), "text", string.Join("' or '", columns.Select(c => c.Input)));
        return new Mapper(this, schema, bound);
    }

    /// <summary>The output schema shape for an input shape: one embedding column per input text column present.</summary>
    internal static SchemaShape OutputSchema(SchemaShape inputSchema, IEnumerable<EmbeddingColumn> columns, int dimension, bool requireAll)
    {
        var result = inputSchema.ToDictionary(c => c.Name);
        bool any = false;
        foreach (var c in columns)
        {
            if (!inputSchema.TryFindColumn(c.Input, out var column))
            {
                if (requireAll)
                    throw new ArgumentOutOfRangeException(nameof(inputSchema), $"The data has no column '{c.Input}'.");
                continue;
            }
            if (column.Kind != SchemaShape.Column.VectorKind.Scalar || column.ItemType is not TextDataViewType)
                throw new ArgumentOutOfRangeException(nameof(inputSchema), $"Column '{c.Input}' must be a scalar String (text) column; it is {column.GetTypeString()}.");
            result[c.Output] = new SchemaShape.Column(c.Output, SchemaShape.Column.VectorKind.Vector, NumberDataViewType.Single, false);
            any = true;
        }
        if (!any)
            throw new ArgumentOutOfRangeException(nameof(inputSchema), $"The data has none of the text columns '{string.Join("', '", columns.Select(c => c.Input))}'.");
        return new SchemaShape(result.Values);
    }

    private sealed class Mapper : MapperBase
    {
        private readonly MixerEmbeddingTransformer parent;
        private readonly List<(EmbeddingColumn Column, int Index)> bound;

        public Mapper(MixerEmbeddingTransformer parent, DataViewSchema schema, List<(EmbeddingColumn Column, int Index)> bound)
            : base(parent.Host, schema, parent)
        {
            this.parent = parent;
            this.bound = bound;
        }

        public override DataViewSchema.DetachedColumn[] GetOutputColumnsCore()
            => bound.Select(b => new DataViewSchema.DetachedColumn(b.Column.Output, new VectorDataViewType(NumberDataViewType.Single, parent.Dimension))).ToArray();

        public override Func<int, bool> GetDependenciesCore(Func<int, bool> activeOutput)
            => col => bound.Where((b, i) => activeOutput(i) && b.Index == col).Any();

        public override Delegate MakeGetter(DataViewRow input, int iinfo, Func<int, bool> activeOutput, out Action disposer)
        {
            disposer = null!;
            var (column, index) = bound[iinfo];
            var tower = column.Query ? parent.queryTower : parent.documentTower;
            var current = TextColumn.PerRow(input, index, text =>
            {
                lock (parent.gate)
                    return tower.EmbedAll([text]);
            });
            return TextColumn.VectorGetter(current);
        }

        public override void SaveModel(ModelSaveContext ctx) => parent.SaveModel(ctx);
    }
}
