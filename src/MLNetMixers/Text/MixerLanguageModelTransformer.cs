using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNetMixers;
using MLNetMixers.Models;
using MLNetMixers.Persistence;
using MLNetMixers.Text;
using MLNetMixers.Training;
using TorchSharp;
using static TorchSharp.torch;
using MLTokenizer = Microsoft.ML.Tokenizers.Tokenizer;

[assembly: LoadableClass(typeof(MixerLanguageModelTransformer), null, typeof(SignatureLoadModel),
    "Mixer language model", MixerLanguageModelTransformer.LoaderSignature)]
[assembly: LoadableClass(typeof(IRowMapper), typeof(MixerLanguageModelTransformer), null, typeof(SignatureLoadRowMapper),
    "Mixer language model", MixerLanguageModelTransformer.LoaderSignature)]

namespace MLNetMixers;

/// <summary>
/// A trained causal language model. As a transformer it adds a text column with the continuation of each row's
/// prompt (generated with the default <see cref="TextGenerationOptions"/> given at training); <see cref="Generate(string, TextGenerationOptions?)"/>
/// and <see cref="Evaluate(IDataView, string?)"/> are the direct entry points. Immutable; saves into and loads from the ML.NET model zip,
/// and the same seed gives the same text after loading.
/// </summary>
public sealed partial class MixerLanguageModelTransformer : RowToRowTransformerBase, IDisposable
{
    internal const string LoaderSignature = "MixerLanguageModel";
    private const string WeightsStream = "LanguageModelWeights";
    private const string MemoryCodeStream = "MemoryCodeWeights";
    private const uint MemoryCodeVersion = 0x00010002;

    private readonly LanguageModel model;
    private readonly TextTokenizer tokenizer;
    private readonly Device device;
    private readonly string promptColumnName;
    private readonly string outputColumnName;
    private readonly TextGenerationOptions generation;
    private readonly Compression.MemoryCode? memoryCode;

    internal MixerLanguageModelTransformer(IHostEnvironment env, LanguageModel model, TextTokenizer tokenizer, Device device,
                                           string promptColumnName, string outputColumnName, TextGenerationOptions generation,
                                           Compression.MemoryCode? memoryCode = null)
        : base(Contracts.CheckRef(env, nameof(env)).Register(nameof(MixerLanguageModelTransformer)))
    {
        this.model = model;
        this.memoryCode = memoryCode;
        memoryCode?.eval();
        this.tokenizer = tokenizer;
        this.device = device;
        this.promptColumnName = promptColumnName;
        this.outputColumnName = outputColumnName;
        this.generation = generation;
        model.eval();
    }

    internal LanguageModel Model => model;

    /// <summary>The encoder and bottleneck of an encoder-augmented model; null for a causal one.</summary>
    internal Compression.MemoryCode? MemoryCode => memoryCode;

    /// <summary>m · b: the bits of each window's memory code of an encoder-augmented model; 0 for a causal model.</summary>
    public int MemoryCodeBitsPerWindow => memoryCode?.Config.BitsPerWindow ?? 0;

    /// <summary>
    /// Refuses what only a causal model can do: an encoder-augmented decoder predicts a window only after its encoder has
    /// read that window, so there is no memory to prepend while text is still being written or scored token by token.
    /// </summary>
    internal void RequireCausal(string what)
    {
        if (memoryCode is not null)
            throw new InvalidOperationException(
                $"This language model is encoder-augmented (a {memoryCode.Config.Size} x {memoryCode.Config.Bits}-bit memory code read from the window it predicts), so it cannot {what}: " +
                "it compresses and evaluates held-out text only. Train it with MemoryCodeSize = 0 for that.");
    }

    internal TextTokenizer Tokenizer => tokenizer;

    internal Device Device => device;

    /// <summary>The architecture of the trained model.</summary>
    public MixerLanguageModelArchitecture Architecture => model.Config.Architecture;

    /// <summary>The context length n_ctx the model was trained with.</summary>
    public int ContextLength => model.Config.ContextLength;

    /// <summary>Number of trainable weights.</summary>
    public long ParameterCount => model.ParameterCount + (memoryCode?.ParameterCount ?? 0);

    /// <summary>
    /// Continues <paramref name="prompt"/> (empty allowed: generation starts a new document; longer than the context:
    /// its last tokens are used). Stops at end of text, a stop sequence or <see cref="TextGenerationOptions.MaxNewTokens"/>.
    /// The weights of every architecture are indexed by absolute position, so once the text fills the context length
    /// n_ctx the window slides: the last n_ctx/2 tokens are read again from position 0 (the structured recurrent mixer's
    /// state is rebuilt from them) and generation goes on from there.
    /// </summary>
    /// <param name="prompt">Text to continue.</param>
    /// <param name="options">Sampling options; null uses those given at training.</param>
    /// <returns>The generated text only (without the prompt).</returns>
    public string Generate(string prompt, TextGenerationOptions? options = null)
    {
        Host.CheckValue(prompt, nameof(prompt));
        RequireCausal("generate text");
        return TextGenerator.Generate(model, tokenizer, prompt, options ?? generation, device);
    }

    /// <summary>
    /// Continues many prompts at once: sequences decode together in batches of <paramref name="batchSize"/>, one model step
    /// serving the whole batch, which is how generation scales (the structured recurrent mixer keeps a fixed-size state per
    /// sequence; the others a cache that grows with the text). Each text is what <see cref="Generate(string, TextGenerationOptions?)"/>
    /// gives for that prompt alone: the same seed, stop sequences and length apply to each sequence on its own.
    /// </summary>
    /// <param name="prompts">Texts to continue.</param>
    /// <param name="options">Sampling options for every prompt; null uses those given at training.</param>
    /// <param name="batchSize">Sequences decoded together (memory grows with it).</param>
    /// <returns>The generated texts, in the order of <paramref name="prompts"/>.</returns>
    public IReadOnlyList<string> Generate(IReadOnlyList<string> prompts, TextGenerationOptions? options = null, int batchSize = TextGenerator.DefaultBatchSize)
        => Generate(prompts, [options ?? generation], batchSize);

    /// <summary>
    /// <see cref="Generate(IReadOnlyList{string}, TextGenerationOptions?, int)"/> with options of its own for each prompt
    /// (its seed, stop sequences, length and sampling).
    /// </summary>
    /// <param name="prompts">Texts to continue.</param>
    /// <param name="options">One entry per prompt.</param>
    /// <param name="batchSize">Sequences decoded together.</param>
    public IReadOnlyList<string> Generate(IReadOnlyList<string> prompts, IReadOnlyList<TextGenerationOptions> options, int batchSize = TextGenerator.DefaultBatchSize)
    {
        Host.CheckValue(prompts, nameof(prompts));
        Host.CheckValue(options, nameof(options));
        for (int i = 0; i < prompts.Count; i++)
            if (prompts[i] is null)
                throw Host.ExceptParam(nameof(prompts), $"Prompt {i} is null.");
        if (options.Count != 1 && options.Count != prompts.Count)
            throw Host.ExceptParam(nameof(options), $"Give one set of generation options per prompt ({prompts.Count}), not {options.Count}.");
        if (options.Any(o => o is null))
            throw Host.ExceptParam(nameof(options), "An entry of the generation options is null.");
        Host.CheckParam(batchSize >= 1, nameof(batchSize), "The batch size must be at least 1.");
        RequireCausal("generate text");
        return TextGenerator.GenerateBatch(model, tokenizer, prompts, options, device, batchSize);
    }

    /// <summary>
    /// Continues the prompt of every row of <paramref name="data"/> in batches (see
    /// <see cref="Generate(IReadOnlyList{string}, TextGenerationOptions?, int)"/>); missing values are empty prompts.
    /// </summary>
    /// <param name="data">Data with a scalar String prompt column.</param>
    /// <param name="promptColumnName">The prompt column; null means the one given at training.</param>
    /// <param name="options">Sampling options; null uses those given at training.</param>
    /// <param name="batchSize">Sequences decoded together.</param>
    /// <returns>One generated text per row, in row order.</returns>
    public IReadOnlyList<string> Generate(IDataView data, string? promptColumnName = null, TextGenerationOptions? options = null,
                                          int batchSize = TextGenerator.DefaultBatchSize)
    {
        Host.CheckValue(data, nameof(data));
        var prompts = MixerLanguageModelEstimator.ReadDocuments(data, promptColumnName ?? this.promptColumnName);
        return Generate(prompts, options, batchSize);
    }

    /// <summary>
    /// Cross-entropy of the model on held-out text, one document per row, packed as in training and read in
    /// consecutive windows of n_ctx tokens so that every token is predicted once.
    /// </summary>
    /// <param name="heldOut">Data with a scalar String column.</param>
    /// <param name="textColumnName">The text column; null means the prompt column.</param>
    public LanguageModelMetrics Evaluate(IDataView heldOut, string? textColumnName = null)
    {
        Host.CheckValue(heldOut, nameof(heldOut));
        var documents = MixerLanguageModelEstimator.ReadDocuments(heldOut, textColumnName ?? promptColumnName);
        return Evaluate(documents);
    }

    internal LanguageModelMetrics Evaluate(IReadOnlyList<string> documents)
    {
        int[] stream = LanguageModelTrainer.Pack(documents, tokenizer);
        long bytes = documents.Sum(d => (long)System.Text.Encoding.UTF8.GetByteCount(d)) + documents.Count;
        // An encoder-augmented model reads windows of n_ctx − 1 tokens after their memory token, whose m · b bits count as a compressed stream would carry them.
        int n = memoryCode is null ? model.Config.ContextLength : model.Config.ContextLength - 1;
        double totalNats = 0, codeNats = 0;
        long predicted = 0;
        using (no_grad())
        {
            for (int start = 0; start < stream.Length - 1; start += n)
            {
                using var scope = NewDisposeScope();
                int length = Math.Min(n, stream.Length - 1 - start);
                var window = tensor(stream.AsSpan(start, length + 1).ToArray().Select(t => (long)t).ToArray(), [1, length + 1], device: device);
                Tensor loss;
                if (memoryCode is null)
                {
                    var logits = model.forward(window[.., ..length]);
                    loss = nn.functional.cross_entropy(logits.reshape(-1, model.Config.VocabularySize), window[.., 1..].reshape(-1),
                                                       reduction: nn.Reduction.Sum);
                }
                else
                {
                    loss = memoryCode.LossSum(model, window[.., ..length], window[.., 1..]);
                    codeNats += memoryCode.Config.BitsPerWindow * Math.Log(2);
                }
                totalNats += loss.item<float>();
                predicted += length;
            }
        }
        if (predicted == 0)
            throw new ArgumentException("The held-out text is empty.", nameof(documents));
        totalNats += codeNats;
        double mean = totalNats / predicted;
        long characters = documents.Sum(d => (long)d.Length) + documents.Count;
        return new LanguageModelMetrics(mean, Math.Exp(mean), totalNats / Math.Log(2) / bytes, predicted)
        {
            NatsPerCharacter = totalNats / characters, CodeBitsPerByte = codeNats / Math.Log(2) / bytes,
        };
    }

    /// <summary>
    /// The same model with its Microsoft.ML.Tokenizers tokenizer attached again (the zip stores only its id range and a
    /// fingerprint). Throws when the tokenizer differs from the one used in training.
    /// </summary>
    /// <param name="tokenizer">The tokenizer the model was trained with.</param>
    public MixerLanguageModelTransformer WithTokenizer(MLTokenizer tokenizer)
    {
        Host.CheckValue(tokenizer, nameof(tokenizer));
        var attached = this.tokenizer switch
        {
            DetachedTokenizer detached => detached.Attach(tokenizer),
            MLTokenizerAdapter adapter => new DetachedTokenizer(adapter.Tokenizer.GetType().FullName ?? "", adapter.IdRange, adapter.Fingerprint).Attach(tokenizer),
            _ => throw new InvalidOperationException($"This model uses {this.tokenizer.Kind} tokenization, not a Microsoft.ML.Tokenizers tokenizer."),
        };
        return new MixerLanguageModelTransformer(Host, model, attached, device, promptColumnName, outputColumnName, generation, memoryCode);
    }

    /// <summary>Releases the model's tensors.</summary>
    public void Dispose()
    {
        model.Dispose();
        memoryCode?.Dispose();
    }

    private static VersionInfo GetVersionInfo() => new(
        modelSignature: "MXLANGMD",
        verWrittenCur: MemoryCodeVersion, // 0x00010002: a memory-code flag (and code) after the generation defaults
        verReadableCur: MemoryCodeVersion,
        verWeCanReadBack: 0x00010001,
        loaderSignature: LoaderSignature,
        loaderAssemblyName: typeof(MixerLanguageModelTransformer).Assembly.FullName);

    /// <summary>Writes the configuration, tokenizer, generation defaults and weights into the model zip.</summary>
    public override void SaveModel(ModelSaveContext ctx)
    {
        Host.CheckValue(ctx, nameof(ctx));
        ctx.CheckAtModel();
        ctx.SetVersionInfo(GetVersionInfo());
        var w = ctx.Writer;
        w.Write(promptColumnName);
        w.Write(outputColumnName);
        model.Config.Save(w);
        tokenizer.Save(w);
        w.Write(generation.MaxNewTokens);
        w.Write(generation.Temperature);
        w.Write(generation.TopK);
        w.Write(generation.TopP);
        w.Write(generation.Seed);
        w.Write(generation.StopSequences.Length);
        foreach (var stop in generation.StopSequences)
            w.Write(stop);
        ctx.SaveModule(WeightsStream, model);
        w.Write(memoryCode is not null);
        if (memoryCode is not null)
        {
            memoryCode.Config.Save(w);
            ctx.SaveModule(MemoryCodeStream, memoryCode);
        }
    }

    private static MixerLanguageModelTransformer Create(IHostEnvironment env, ModelLoadContext ctx)
    {
        Contracts.CheckValue(env, nameof(env));
        return Persistence.ModelFormat.Read(ctx, GetVersionInfo(), "language model", () => Read(env, ctx));
    }

    private static MixerLanguageModelTransformer Read(IHostEnvironment env, ModelLoadContext ctx)
    {
        var r = ctx.Reader;
        string prompt = r.ReadString();
        string output = r.ReadString();
        var config = LanguageModelConfig.Load(r);
        var tokenizer = TextTokenizer.Load(r);
        var generation = new TextGenerationOptions
        {
            MaxNewTokens = r.ReadInt32(), Temperature = r.ReadSingle(), TopK = r.ReadInt32(), TopP = r.ReadSingle(), Seed = r.ReadInt32(),
        };
        generation.StopSequences = new string[r.ReadInt32()];
        for (int i = 0; i < generation.StopSequences.Length; i++)
            generation.StopSequences[i] = r.ReadString();
        if (tokenizer.VocabularySize != config.VocabularySize)
            throw Contracts.ExceptDecode($"The saved tokenizer has {tokenizer.VocabularySize} tokens but the model {config.VocabularySize}.");

        // A loaded model generates where it can run fastest: the GPU named by MLContext.GpuDeviceId when CUDA is present.
        var device = TorchRuntime.ResolveDevice(env, MixerDevice.Auto);
        var model = new LanguageModel(config);
        ctx.LoadModule(WeightsStream, model);
        model.to(device);
        Compression.MemoryCode? memoryCode = null;
        if (ctx.Header.ModelVerWritten >= MemoryCodeVersion && r.ReadBoolean())
        {
            memoryCode = new Compression.MemoryCode(Compression.MemoryCodeConfig.Load(r), config.Width);
            ctx.LoadModule(MemoryCodeStream, memoryCode);
            memoryCode.to(device);
        }
        return new MixerLanguageModelTransformer(env, model, tokenizer, device, prompt, output, generation, memoryCode);
    }

    private static IRowMapper Create(IHostEnvironment env, ModelLoadContext ctx, DataViewSchema inputSchema)
        => Create(env, ctx).MakeRowMapper(inputSchema);

    /// <summary>Binds to a schema with the prompt column (scalar String).</summary>
    public override IRowMapper MakeRowMapper(DataViewSchema schema)
    {
        Host.CheckValue(schema, nameof(schema));
        if (!schema.TryGetColumnIndex(promptColumnName, out int index))
            throw Host.ExceptSchemaMismatch(nameof(schema), "prompt", promptColumnName);
        if (schema[index].Type is not TextDataViewType)
            throw Host.ExceptSchemaMismatch(nameof(schema), "prompt", promptColumnName, "String", schema[index].Type.ToString());
        return new Mapper(this, schema, index);
    }

    private sealed class Mapper : MapperBase
    {
        private readonly MixerLanguageModelTransformer parent;
        private readonly int promptIndex;

        public Mapper(MixerLanguageModelTransformer parent, DataViewSchema schema, int promptIndex) : base(parent.Host, schema, parent)
        {
            this.parent = parent;
            this.promptIndex = promptIndex;
        }

        public override DataViewSchema.DetachedColumn[] GetOutputColumnsCore()
            => [new DataViewSchema.DetachedColumn(parent.outputColumnName, TextDataViewType.Instance)];

        public override Func<int, bool> GetDependenciesCore(Func<int, bool> activeOutput)
            => col => activeOutput(0) && col == promptIndex;

        public override Delegate MakeGetter(DataViewRow input, int iinfo, Func<int, bool> activeOutput, out Action disposer)
        {
            disposer = null!;
            var promptGetter = input.GetGetter<ReadOnlyMemory<char>>(input.Schema[promptIndex]);
            ReadOnlyMemory<char> prompt = default;
            long cachedPosition = -1;
            ReadOnlyMemory<char> cached = default;
            // Generation is costly: one result per row, however often the getter is called for it.
            ValueGetter<ReadOnlyMemory<char>> getter = (ref ReadOnlyMemory<char> dst) =>
            {
                if (cachedPosition != input.Position)
                {
                    promptGetter(ref prompt);
                    cached = parent.Generate(prompt.ToString()).AsMemory();
                    cachedPosition = input.Position;
                }
                dst = cached;
            };
            return getter;
        }

        public override void SaveModel(ModelSaveContext ctx) => parent.SaveModel(ctx);
    }
}
