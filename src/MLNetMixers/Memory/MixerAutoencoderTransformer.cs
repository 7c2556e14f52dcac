using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNetMixers;
using MLNetMixers.Memory;
using MLNetMixers.Persistence;
using MLNetMixers.Text;
using MLNetMixers.Training;
using TorchSharp;
using static TorchSharp.torch;

[assembly: LoadableClass(typeof(MixerAutoencoderTransformer), null, typeof(SignatureLoadModel),
    "Mixer autoencoder", MixerAutoencoderTransformer.LoaderSignature)]
[assembly: LoadableClass(typeof(IRowMapper), typeof(MixerAutoencoderTransformer), null, typeof(SignatureLoadRowMapper),
    "Mixer autoencoder", MixerAutoencoderTransformer.LoaderSignature)]

namespace MLNetMixers;

/// <summary>
/// A trained chunk autoencoder used as an embedding transform: adds a <c>Vector&lt;Single&gt;</c> memory column (length
/// <see cref="MemoryWidth"/>) holding the encoder's memory of each text's first <see cref="ChunkLength"/> tokens, and
/// regenerates texts from memories. Immutable; saves into and loads from the ML.NET model zip.
/// </summary>
public sealed class MixerAutoencoderTransformer : RowToRowTransformerBase, IDisposable
{
    internal const string LoaderSignature = "MixerAutoencoder";
    private const string WeightsStream = "AutoencoderWeights";

    private readonly MemoryAutoencoder model;
    private readonly TextTokenizer tokenizer;
    private readonly Device device;
    private readonly string inputColumnName;
    private readonly string memoryColumnName;
    // Torch modules are not safe to run from several cursors at once.
    private readonly object gate = new();

    internal MixerAutoencoderTransformer(IHostEnvironment env, MemoryAutoencoder model, TextTokenizer tokenizer, Device device,
                                         string inputColumnName, string memoryColumnName)
        : base(Contracts.CheckRef(env, nameof(env)).Register(nameof(MixerAutoencoderTransformer)))
    {
        this.model = model;
        this.tokenizer = tokenizer;
        this.device = device;
        this.inputColumnName = inputColumnName;
        this.memoryColumnName = memoryColumnName;
        model.eval();
    }

    internal MemoryAutoencoder Model => model;

    internal TextTokenizer Tokenizer => tokenizer;

    /// <summary>Length of each memory vector.</summary>
    public int MemoryWidth => model.Config.MemoryWidth;

    /// <summary>Tokens per chunk: a longer text is remembered by its first ChunkLength tokens.</summary>
    public int ChunkLength => model.Config.ChunkLength;

    /// <summary>The token mixer of the encoder and decoder.</summary>
    public MixerLanguageModelArchitecture Architecture => model.Config.Encoder.Architecture;

    /// <summary>How the decoder reads the memory (zips saved before the mode was recorded are teacher-forced).</summary>
    public MemoryDecoding Decoding => model.Config.Decoding;

    /// <summary>Trainable weights of encoder, bottleneck and decoder.</summary>
    public long ParameterCount => model.ParameterCount;

    /// <summary>The text column read and the memory column added.</summary>
    public (string Input, string Output) Columns => (inputColumnName, memoryColumnName);

    /// <summary>The memories of <paramref name="texts"/>, row-major [N, MemoryWidth] in one array.</summary>
    public float[] Encode(IReadOnlyList<string> texts)
    {
        Host.CheckValue(texts, nameof(texts));
        if (texts.Any(t => t is null))
            throw Host.ExceptParam(nameof(texts), "A text is null.");
        var result = new float[texts.Count * MemoryWidth];
        lock (gate)
        {
            using var noGrad = no_grad();
            for (int start = 0; start < texts.Count; start += 32)
            {
                using var scope = NewDisposeScope();
                int count = Math.Min(32, texts.Count - start);
                var memory = MemoryOf(texts.Skip(start).Take(count).ToArray());
                memory.cpu().data<float>().ToArray().CopyTo(result, start * MemoryWidth);
            }
        }
        return result;
    }

    /// <summary>Each text's first chunk regenerated from its memory (greedy decoding): equal to the chunk when the memory kept it all.</summary>
    public IReadOnlyList<string> Regenerate(IReadOnlyList<string> texts)
    {
        Host.CheckValue(texts, nameof(texts));
        lock (gate)
        {
            using var noGrad = no_grad();
            using var scope = NewDisposeScope();
            return model.Decoder.Regenerate(MemoryOf(texts), tokenizer.EndOfText).Select(tokenizer.Decode).ToArray();
        }
    }

    private Tensor MemoryOf(IReadOnlyList<string> texts)
    {
        var chunks = texts.Select(t => tokenizer.Encode(t).Take(ChunkLength).ToArray()).ToArray();
        var (tokens, targets) = MemoryChunks.Rows(chunks, ChunkLength, tokenizer.EndOfText, device);
        return model.Memory(tokens, MemoryChunks.LastReal(targets)).to(ScalarType.Float32);
    }

    /// <summary>Releases the model's tensors.</summary>
    public void Dispose() => model.Dispose();

    private static VersionInfo GetVersionInfo() => new(
        modelSignature: "MXAUTOEN",
        verWrittenCur: 0x00010003, // 2: the decoding mode recorded (older zips are teacher-forced); 3: unrolled decoders' cyclic slices
        verReadableCur: 0x00010003,
        verWeCanReadBack: 0x00010001,
        loaderSignature: LoaderSignature,
        loaderAssemblyName: typeof(MixerAutoencoderTransformer).Assembly.FullName);

    /// <summary>Writes the columns, the model's shape, the tokenizer and the weights into the model zip.</summary>
    public override void SaveModel(ModelSaveContext ctx)
    {
        Host.CheckValue(ctx, nameof(ctx));
        ctx.CheckAtModel();
        ctx.SetVersionInfo(GetVersionInfo());
        var w = ctx.Writer;
        w.Write(inputColumnName);
        w.Write(memoryColumnName);
        model.Config.Save(w);
        tokenizer.Save(w);
        ctx.SaveModule(WeightsStream, model);
    }

    private static MixerAutoencoderTransformer Create(IHostEnvironment env, ModelLoadContext ctx)
    {
        Contracts.CheckValue(env, nameof(env));
        ctx.CheckAtModel(GetVersionInfo());
        var r = ctx.Reader;
        string input = r.ReadString(), output = r.ReadString();
        var config = MemoryAutoencoderConfig.Load(r, withDecoding: ctx.Header.ModelVerWritten >= 0x00010002, withSlices: ctx.Header.ModelVerWritten >= 0x00010003);
        var tokenizer = TextTokenizer.Load(r);
        if (tokenizer.VocabularySize != config.Encoder.VocabularySize)
            throw Contracts.ExceptDecode($"The saved tokenizer has {tokenizer.VocabularySize} tokens but the model {config.Encoder.VocabularySize}.");
        var device = TorchRuntime.ResolveDevice(env, MixerDevice.Auto);
        var model = new MemoryAutoencoder(config);
        ctx.LoadModule(WeightsStream, model);
        model.to(device);
        return new MixerAutoencoderTransformer(env, model, tokenizer, device, input, output);
    }

    private static IRowMapper Create(IHostEnvironment env, ModelLoadContext ctx, DataViewSchema inputSchema)
        => Create(env, ctx).MakeRowMapper(inputSchema);

    /// <summary>Binds the text column, which must be present and scalar String.</summary>
    public override IRowMapper MakeRowMapper(DataViewSchema schema) => new Mapper(this, schema, TextColumn.Bind(Host, schema, inputColumnName));

    private sealed class Mapper : MapperBase
    {
        private readonly MixerAutoencoderTransformer parent;
        private readonly int index;

        public Mapper(MixerAutoencoderTransformer parent, DataViewSchema schema, int index)
            : base(parent.Host, schema, parent)
        {
            this.parent = parent;
            this.index = index;
        }

        public override DataViewSchema.DetachedColumn[] GetOutputColumnsCore()
            => [new DataViewSchema.DetachedColumn(parent.memoryColumnName, new VectorDataViewType(NumberDataViewType.Single, parent.MemoryWidth))];

        public override Func<int, bool> GetDependenciesCore(Func<int, bool> activeOutput) => col => activeOutput(0) && col == index;

        public override Delegate MakeGetter(DataViewRow input, int iinfo, Func<int, bool> activeOutput, out Action disposer)
        {
            disposer = null!;
            var textGetter = input.GetGetter<ReadOnlyMemory<char>>(input.Schema[index]);
            ReadOnlyMemory<char> text = default;
            long cachedPosition = -1;
            float[] cached = [];
            ValueGetter<VBuffer<float>> getter = (ref VBuffer<float> dst) =>
            {
                if (cachedPosition != input.Position)
                {
                    textGetter(ref text);
                    cached = parent.Encode([text.ToString()]);
                    cachedPosition = input.Position;
                }
                var editor = VBufferEditor.Create(ref dst, cached.Length);
                cached.CopyTo(editor.Values);
                dst = editor.Commit();
            };
            return getter;
        }

        public override void SaveModel(ModelSaveContext ctx) => parent.SaveModel(ctx);
    }
}
