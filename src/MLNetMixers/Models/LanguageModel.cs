using TorchSharp;
using TorchSharp.Modules;
using static MLNetMixers.Models.SafeArithmetic;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace MLNetMixers.Models;

/// <summary>Shape of a <see cref="LanguageModel"/>.</summary>
internal sealed record LanguageModelConfig(
    MixerLanguageModelArchitecture Architecture,
    int VocabularySize,
    int ContextLength,
    int Width,
    int Depth,
    int Heads,
    int MlpRatio,
    double Dropout)
{
    public void Save(BinaryWriter w)
    {
        w.Write((byte)Architecture);
        w.Write(VocabularySize);
        w.Write(ContextLength);
        w.Write(Width);
        w.Write(Depth);
        w.Write(Heads);
        w.Write(MlpRatio);
        w.Write(Dropout);
    }

    public static LanguageModelConfig Load(BinaryReader r) => new(
        (MixerLanguageModelArchitecture)r.ReadByte(), r.ReadInt32(), r.ReadInt32(), r.ReadInt32(), r.ReadInt32(), r.ReadInt32(), r.ReadInt32(), r.ReadDouble());
}

/// <summary>
/// A causal language model; the architectures differ only in the token mixer of each block:
///   h0 = E[token] + P[position]
///   h  = Block_N(... Block_1(h0)),   Block(x): x += Mix(LN(x)); x += MLP(LN(x))
///   logits = W · LN(h)
/// Mix is a masked (lower-triangular) matrix, a Toeplitz convolution, causal self-attention (which
/// makes the block a pre-LN GPT block), or a structured recurrent mixer (whose blocks run the MLP first). <see cref="Prefill"/>/<see cref="Step"/> decode incrementally.
/// </summary>
internal sealed class LanguageModel : Module<Tensor, Tensor>
{
    private readonly Embedding tokenEmbedding;
    private readonly Parameter? positionEmbedding;   // none for Llama: its attention rotates by position
    private readonly ModuleList<Module<Tensor, Tensor>> blocks;
    private readonly LayerNorm? finalNorm;
    private readonly RmsNorm? finalRmsNorm;
    private readonly Linear head;

    public LanguageModel(LanguageModelConfig config) : base(nameof(LanguageModel))
    {
        Config = config;
        tokenEmbedding = Embedding(config.VocabularySize, config.Width);
        bool llama = config.Architecture == MixerLanguageModelArchitecture.LlamaTransformer;
        if (!llama)
            positionEmbedding = Parameter(randn(config.ContextLength, config.Width) * 0.02);
        blocks = new ModuleList<Module<Tensor, Tensor>>(Enumerable.Range(0, config.Depth)
            .Select(_ => llama
                ? (Module<Tensor, Tensor>)new LlamaBlock(TokenMixers.ForLanguageModel(config.Architecture, config.ContextLength, config.Width, config.Heads),
                                                         config.Width, config.MlpRatio, config.Dropout)
                : new MixerBlock(TokenMixers.ForLanguageModel(config.Architecture, config.ContextLength, config.Width, config.Heads),
                                 config.Width, config.MlpRatio, config.Dropout,
                                 channelMlpFirst: config.Architecture == MixerLanguageModelArchitecture.StructuredRecurrentMixer))
            .ToArray());
        if (llama)
            finalRmsNorm = new RmsNorm(config.Width);
        else
            finalNorm = LayerNorm(config.Width);
        head = Linear(config.Width, config.VocabularySize);
        RegisterComponents();
    }

    public LanguageModelConfig Config { get; }

    public int Depth => blocks.Count;

    /// <summary>Logits for every position: [B, T] int64 (T ≤ context length) -> [B, T, V].</summary>
    public override Tensor forward(Tensor tokens) => head.forward(HiddenStates(tokens));

    /// <summary>
    /// The final normalised hidden states [B, T, D] that the head reads: what retrieval pools into a text embedding.
    /// Causal, so position t depends on tokens 0..t only and right padding never changes the real positions.
    /// </summary>
    public Tensor HiddenStates(Tensor tokens) => HiddenStates(tokens, prefix: null);

    /// <summary>
    /// Hidden states [B, P + T, D] of a sequence whose first P positions are given as vectors ([B, P, D], e.g. memories
    /// prepended as pseudo-tokens) rather than token ids; position embeddings are added to them as to tokens.
    /// </summary>
    public Tensor HiddenStates(Tensor tokens, Tensor? prefix)
    {
        var h = prefix is null ? Embed(tokens, start: 0) : EmbedAfter(prefix, tokens);
        foreach (var block in blocks)
            h = block.forward(h);
        return finalNorm is null ? finalRmsNorm!.forward(h) : FusedLayerNorm.Apply(finalNorm, h);
    }

    private Tensor FinalNorm(Tensor h) => finalNorm is null ? finalRmsNorm!.forward(h) : finalNorm.forward(h);

    private static Tensor PrefillBlock(Module<Tensor, Tensor> block, Tensor h, DecodingCache cache)
    {
        if (block is LlamaBlock llama)
            return llama.Prefill(h, cache);
        var mixer = (MixerBlock)block;
        return mixer.Apply(h, normed => ((ICausalTokenMixer)mixer.TokenMixer).Prefill(normed, cache));
    }

    private static Tensor StepBlock(Module<Tensor, Tensor> block, Tensor h, DecodingCache cache)
    {
        if (block is LlamaBlock llama)
            return llama.Step(h, cache);
        var mixer = (MixerBlock)block;
        return mixer.Apply(h, normed => ((ICausalTokenMixer)mixer.TokenMixer).Step(normed, cache));
    }

    /// <summary>
    /// Runs the prompt [B, T] through the model, filling one cache per layer; returns the last position's logits [B, V].
    /// <paramref name="prefix"/> vectors [B, P, D] (a memory token) come first when given; later steps continue after them.
    /// </summary>
    public Tensor Prefill(Tensor tokens, IReadOnlyList<DecodingCache> caches, Tensor? prefix = null)
    {
        var h = prefix is null ? Embed(tokens, start: 0) : EmbedAfter(prefix, tokens);
        for (int l = 0; l < blocks.Count; l++)
            h = PrefillBlock(blocks[l], h, caches[l]);
        return head.forward(FinalNorm(h[.., -1]));
    }

    /// <summary>The next position: [B, 1] token ids -> [B, V] logits, one row of each layer's mixing.</summary>
    public Tensor Step(Tensor token, IReadOnlyList<DecodingCache> caches)
    {
        var h = Embed(token, start: caches[0].Length);
        for (int l = 0; l < blocks.Count; l++)
            h = StepBlock(blocks[l], h, caches[l]);
        return head.forward(FinalNorm(h[.., -1]));
    }

    /// <summary>Logits [B, P + T, V] of <paramref name="prefix"/> vectors followed by <paramref name="tokens"/>.</summary>
    public Tensor Forward(Tensor tokens, Tensor prefix) => head.forward(HiddenStates(tokens, prefix));

    private Tensor EmbedAfter(Tensor prefix, Tensor tokens)
    {
        int p = (int)prefix.shape[1], t = (int)tokens.shape[1];
        if (p + t > Config.ContextLength)
            throw new ArgumentException($"{p} prefix vectors and {t} tokens exceed the context length {Config.ContextLength}.", nameof(tokens));
        var embedded = cat([prefix.to(tokenEmbedding.weight!.dtype), tokenEmbedding.forward(tokens)], 1);
        return positionEmbedding is null ? embedded : Add(embedded, positionEmbedding[..(p + t)]);
    }

    public DecodingCache[] NewCaches() => Enumerable.Range(0, blocks.Count).Select(_ => new DecodingCache(Config.ContextLength)).ToArray();

    private Tensor Embed(Tensor tokens, int start)
    {
        int t = (int)tokens.shape[1];
        if (start + t > Config.ContextLength)
            throw new ArgumentException($"Positions {start}..{start + t - 1} exceed the context length {Config.ContextLength}.", nameof(tokens));
        var embedded = tokenEmbedding.forward(tokens);
        return positionEmbedding is null ? embedded : Add(embedded, positionEmbedding[start..(start + t)]);
    }

    /// <summary>
    /// Draws every weight from a generator of its own seeded with <paramref name="seed"/>, with the usual
    /// distributions (Linear: U(±1/√fan_in); embeddings: N(0, 1); positions: N(0, 0.02²), sinusoids for the GPT baseline; mixing weights:
    /// U(±1/√n_ctx); LayerNorm and RMSNorm gains 1, biases 0). Torch's global generator is shared by everything in the process, so
    /// seeding it would not make the weights reproducible while other models are created concurrently.
    /// </summary>
    public void Initialize(int seed)
    {
        var generator = new Generator((ulong)seed);
        double mixingBound = 1.0 / Math.Sqrt(Config.ContextLength);
        using var noGrad = no_grad();
        // named_modules() lists the descendants only; this module owns the position embedding itself.
        foreach (var module in named_modules().Select(m => m.module).Prepend(this))
        {
            if (module is StructuredRecurrentTokenMixing recurrent)
            {
                recurrent.ResetMixingParameters(generator); // its own projections are Linear modules, reached below
                continue;
            }
            foreach (var (name, p) in module.named_parameters(recurse: false))
            {
                switch (module)
                {
                    case TorchSharp.Modules.Linear linear:
                        double bound = 1.0 / Math.Sqrt(linear.weight!.shape[1]);
                        p.uniform_(-bound, bound, generator);
                        break;
                    case TorchSharp.Modules.Embedding:
                        p.normal_(0, 1, generator);
                        break;
                    case TorchSharp.Modules.LayerNorm:
                    case RmsNorm:
                        p.fill_(name == "weight" ? 1 : 0);
                        break;
                    case LanguageModel when Config.Architecture == MixerLanguageModelArchitecture.Transformer:
                        p.copy_(SinusoidalPositions(Config.ContextLength, Config.Width));
                        break;
                    case LanguageModel:
                        p.normal_(0, 0.02, generator);
                        break;
                    default:
                        p.uniform_(-mixingBound, mixingBound, generator);
                        break;
                }
            }
        }
    }

    /// <summary>
    /// The original transformer's sin/cos table, [n_ctx, d], each entry of unit order like the N(0, 1) token embeddings.
    /// The GPT baseline starts its learned positions here rather than at N(0, 0.02²): a shift by k positions is then the
    /// same rotation everywhere, so what attention learns about neighbours on the short windows of a context warm-up
    /// (<see cref="MixerLanguageModelOptions.ContextWarmupFraction"/>) also holds at positions not reached yet.
    /// </summary>
    internal static Tensor SinusoidalPositions(int positions, int width)
    {
        var position = arange(positions, dtype: ScalarType.Float32).unsqueeze(1);
        var frequency = exp(arange(0, width, 2, dtype: ScalarType.Float32) * (-Math.Log(10000.0) / width));
        var table = zeros(positions, width);
        table[.., TensorIndex.Slice(0, null, 2)] = sin(position * frequency);
        table[.., TensorIndex.Slice(1, null, 2)] = cos(position * frequency[..(width / 2)]);
        return table;
    }

    /// <summary>Number of trainable weights.</summary>
    public long ParameterCount => parameters().Sum(p => p.numel());
}
