using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNetMixers.Persistence;
using MLNetMixers.Text;
using MLNetMixers.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetMixers;

/// <summary>
/// What the trained text models with one text column in and one column out share (the autoencoder's memory column, the
/// memory language model's loss column): the module with its tokenizer and device, the lock that keeps cursors from
/// running it at once, the zip layout (the two column names, the model's shape, the tokenizer, the weights) and the
/// row mapper. Immutable; disposing it releases the module's tensors.
/// </summary>
public abstract class MixerTextModelTransformer : RowToRowTransformerBase, IDisposable
{
    private readonly nn.Module module;
    private readonly VersionInfo version;
    private readonly string weightsStream;

    // version: the zip entry's version, written before the columns; weightsStream: the zip stream that holds the weights.
    private protected MixerTextModelTransformer(IHostEnvironment env, string name, VersionInfo version, string weightsStream, nn.Module module,
                                                TextTokenizer tokenizer, Device device, string inputColumnName, string outputColumnName)
        : base(Contracts.CheckRef(env, nameof(env)).Register(name))
    {
        this.module = module;
        this.version = version;
        this.weightsStream = weightsStream;
        Tokenizer = tokenizer;
        Device = device;
        InputColumnName = inputColumnName;
        OutputColumnName = outputColumnName;
        module.eval();
    }

    internal TextTokenizer Tokenizer { get; }

    internal Device Device { get; }

    private protected string InputColumnName { get; }

    private protected string OutputColumnName { get; }

    // Torch modules are not safe to run from several cursors at once.
    private protected object Gate { get; } = new();

    /// <summary>Releases the model's tensors.</summary>
    public void Dispose() => module.Dispose();

    /// <summary>Writes the model's shape (its config), read back by the loader before the tokenizer.</summary>
    private protected abstract void SaveShape(BinaryWriter writer);

    /// <summary>Writes the columns, the model's shape, the tokenizer and the weights into the model zip.</summary>
    public override void SaveModel(ModelSaveContext ctx)
    {
        Host.CheckValue(ctx, nameof(ctx));
        ctx.CheckAtModel();
        ctx.SetVersionInfo(version);
        var w = ctx.Writer;
        w.Write(InputColumnName);
        w.Write(OutputColumnName);
        SaveShape(w);
        Tokenizer.Save(w);
        ctx.SaveModule(weightsStream, module);
    }

    /// <summary>What <see cref="SaveModel"/> wrote up to the model's shape: the input and output column names.</summary>
    private protected static (string Input, string Output) LoadColumns(ModelLoadContext ctx, VersionInfo version)
    {
        ctx.CheckAtModel(version);
        return (ctx.Reader.ReadString(), ctx.Reader.ReadString());
    }

    /// <summary>
    /// The rest of the zip after the shape: the tokenizer, which must have the model's <paramref name="vocabulary"/>, then
    /// the weights into the model <paramref name="create"/> makes, moved to the device this process scores on.
    /// </summary>
    private protected static (TModel Model, TextTokenizer Tokenizer, Device Device) LoadWeights<TModel>(IHostEnvironment env, ModelLoadContext ctx, string stream,
                                                                                                     int vocabulary, Func<TModel> create)
        where TModel : nn.Module
    {
        var tokenizer = TextTokenizer.Load(ctx.Reader);
        if (tokenizer.VocabularySize != vocabulary)
            throw Contracts.ExceptDecode($"The saved tokenizer has {tokenizer.VocabularySize} tokens but the model {vocabulary}.");
        var device = TorchRuntime.ResolveDevice(env, MixerDevice.Auto);
        var model = create();
        try
        {
            ctx.LoadModule(stream, model);
            model.to(device);
        }
        catch
        {
            model.Dispose();
            throw;
        }
        return (model, tokenizer, device);
    }

    /// <summary>The column the mapper adds.</summary>
    private protected abstract DataViewType OutputType { get; }

    /// <summary>The output column's getter for a row, from its text (computed once per row by <see cref="TextColumn.PerRow"/>).</summary>
    private protected abstract Delegate MakeGetter(DataViewRow input, int textIndex);

    /// <summary>Binds the text column, which must be present and scalar String.</summary>
    public override IRowMapper MakeRowMapper(DataViewSchema schema) => new Mapper(this, schema, TextColumn.Bind(Host, schema, InputColumnName));

    private sealed class Mapper : MapperBase
    {
        private readonly MixerTextModelTransformer parent;
        private readonly int index;

        public Mapper(MixerTextModelTransformer parent, DataViewSchema schema, int index)
            : base(parent.Host, schema, parent)
        {
            this.parent = parent;
            this.index = index;
        }

        public override DataViewSchema.DetachedColumn[] GetOutputColumnsCore()
            => [new DataViewSchema.DetachedColumn(parent.OutputColumnName, parent.OutputType)];

        public override Func<int, bool> GetDependenciesCore(Func<int, bool> activeOutput) => col => activeOutput(0) && col == index;

        public override Delegate MakeGetter(DataViewRow input, int iinfo, Func<int, bool> activeOutput, out Action disposer)
        {
            disposer = null!;
            return parent.MakeGetter(input, index);
        }

        public override void SaveModel(ModelSaveContext ctx) => parent.SaveModel(ctx);
    }
}
