using MLTokenizer = Microsoft.ML.Tokenizers.Tokenizer;

namespace MLNetMixers;

/// <summary>The network a mixer language model uses to mix information along the sequence.</summary>
public enum MixerLanguageModelArchitecture
{
    /// <summary>
    /// Masked mixer (Badger, "Masked Mixers for Language Generation and Retrieval"): a learned lower-triangular
    /// matrix over the sequence per layer (per head when <see cref="SequenceTrainingOptions.Heads"/> &gt; 1).
    /// </summary>
    MaskedMixer,

    /// <summary>
    /// Toeplitz mixer ("Toeplitz MLP Mixers"): the lower-triangular matrix is tied to one vector per layer or head,
    /// M[i,j] = v[i-j], computed by FFT for long contexts. Fewest sequence weights.
    /// </summary>
    ToeplitzMixer,

    /// <summary>A small GPT-style transformer (causal self-attention, pre-LayerNorm), as a baseline.</summary>
    Transformer,

    /// <summary>
    /// Structured recurrent mixer (Badger, "Structured Recurrent Mixers for Massively Parallelized Sequence Generation"):
    /// per head a lower-triangular matrix M[t,i] = w_t·λ^(t-i) (column-repeat heads, the first half) or w_i·λ^(t-i)
    /// (row-repeat heads) with a learned per-head decay λ and a per-position bias, with projections in and out; blocks run
    /// the channel MLP before token mixing. It trains as a masked matmul and generates as a recurrence: one state vector
    /// per head per layer, so memory per sequence does not grow with the text and many sequences decode at once.
    /// Use <see cref="SequenceTrainingOptions.Heads"/> ≥ 2 to have both kinds of head. Like the masked mixer its
    /// weights are indexed by absolute position, so generation past n_ctx slides the window (see
    /// <see cref="MixerLanguageModelTransformer.Generate(string, TextGenerationOptions?)"/>).
    /// </summary>
    StructuredRecurrentMixer,

    /// <summary>
    /// A small Llama-style transformer (rotary positions, RMSNorm, SwiGLU channel MLP, no biases), the baseline of the
    /// masked-mixer paper. Needs an even head width (Width / Heads).
    /// </summary>
    LlamaTransformer,
}

/// <summary>How a language model splits text into tokens.</summary>
public enum TextTokenization
{
    /// <summary>One token per character seen in the training text; unseen characters map to one unknown token.</summary>
    Characters,

    /// <summary>One token per UTF-8 byte (257 tokens with end of text): any text, nothing unknown.</summary>
    Bytes,

    /// <summary>
    /// The Microsoft.ML.Tokenizers tokenizer in <see cref="MixerLanguageModelOptions.Tokenizer"/>. The model zip keeps
    /// only its id range and a fingerprint, so after loading call
    /// <see cref="MixerLanguageModelTransformer.WithTokenizer"/> with the same tokenizer.
    /// </summary>
    Tokenizer,

    /// <summary>
    /// Byte-level byte-pair encoding learned from the training text, up to
    /// <see cref="MixerLanguageModelOptions.SubwordVocabularySize"/> tokens: any text, nothing unknown, saved in the model zip.
    /// </summary>
    Subwords,
}

/// <summary>How text is generated from a prompt.</summary>
public sealed class TextGenerationOptions
{
    /// <summary>Most tokens generated after the prompt. Generation also stops at end of text or a stop sequence.</summary>
    public int MaxNewTokens = 200;

    /// <summary>Softmax temperature; 0 picks the most likely token every time (greedy, deterministic).</summary>
    public float Temperature = 0.8f;

    /// <summary>Sample only among the K most likely tokens; 0 means no limit.</summary>
    public int TopK = 0;

    /// <summary>Nucleus sampling: sample among the most likely tokens whose probabilities add up to P; 1 means no limit.</summary>
    public float TopP = 1f;

    /// <summary>Seed of the sampler: the same model, prompt, options and seed give the same text.</summary>
    public int Seed = 0;

    /// <summary>Generation stops when the generated text contains one of these; the text is cut before it.</summary>
    public string[] StopSequences = [];

    internal TextGenerationOptions Clone() => new()
    {
        MaxNewTokens = MaxNewTokens, Temperature = Temperature, TopK = TopK, TopP = TopP, Seed = Seed, StopSequences = [.. StopSequences],
    };

    internal void Validate()
    {
        if (MaxNewTokens < 0)
            throw new ArgumentOutOfRangeException(nameof(MaxNewTokens), MaxNewTokens, "MaxNewTokens must not be negative.");
        if (!(Temperature >= 0) || float.IsInfinity(Temperature))
            throw new ArgumentOutOfRangeException(nameof(Temperature), Temperature, "Temperature must be a finite number >= 0.");
        if (TopK < 0)
            throw new ArgumentOutOfRangeException(nameof(TopK), TopK, "TopK must not be negative.");
        if (!(TopP > 0 && TopP <= 1))
            throw new ArgumentOutOfRangeException(nameof(TopP), TopP, "TopP must be in (0, 1].");
        if (StopSequences is null || StopSequences.Any(string.IsNullOrEmpty))
            throw new ArgumentException("StopSequences must not be null or contain null or empty strings.", nameof(StopSequences));
    }
}

/// <summary>Options of <c>TrainMixerLanguageModel</c>: the model, its training, and how it generates.</summary>
public sealed class MixerLanguageModelOptions : SequenceTrainingOptions
{
    /// <summary>The language model's defaults where they differ from <see cref="SequenceTrainingOptions"/>: 4 blocks and a 50-step warm-up.</summary>
    public MixerLanguageModelOptions()
    {
        Depth = 4;
        WarmupSteps = 50;
    }

    /// <summary>Column holding prompts when the transformer maps rows; null means the training text column.</summary>
    public string? PromptColumnName;

    /// <summary>Text column the transformer adds: the text generated after each prompt.</summary>
    public string OutputColumnName = "GeneratedText";

    /// <summary>How text becomes tokens.</summary>
    public TextTokenization Tokenization = TextTokenization.Characters;

    /// <summary>Tokens (256 bytes, the learned merges, end of text) of <see cref="TextTokenization.Subwords"/>; fewer when the text has no more pairs to merge.</summary>
    public int SubwordVocabularySize = 2048;

    /// <summary>The tokenizer used when <see cref="Tokenization"/> is <see cref="TextTokenization.Tokenizer"/>.</summary>
    public MLTokenizer? Tokenizer;

    /// <summary>n_ctx: tokens the model sees at once. Mixing matrices are n_ctx x n_ctx.</summary>
    public int ContextLength = 128;

    /// <summary>Dropout on each residual branch during training.</summary>
    public double Dropout = 0.0;

    /// <summary>
    /// Entropy-aware training ("Know Your Limits"): a trained language model whose per-token loss estimates each token's
    /// entropy. The loss then counts a token only where the model's loss on it is above that estimate (the per-token clipping
    /// mask), so the model approaches the estimate without going below it. The new model uses the estimator's tokenizer.
    /// Null trains on the plain cross-entropy.
    /// </summary>
    public MixerLanguageModelTransformer? EntropyEstimator;

    /// <summary>
    /// The encoder-augmented causal decoder ("Know Your Limits"): m &gt; 0 gives the model an encoder that reads each window
    /// of n_ctx − 1 tokens and passes m numbers of <see cref="MemoryCodeBits"/> bits each to the decoder as a memory token
    /// before the window. The code has seen the window, so compression writes it into the stream (m · b bits per window)
    /// and <see cref="MixerLanguageModelTransformer.Evaluate(Microsoft.ML.IDataView, string?)"/> counts it; the model
    /// compresses and evaluates but does not generate. 0 (the default) is the plain causal model.
    /// </summary>
    public int MemoryCodeSize = 0;

    /// <summary>Bits b of each memory-code dimension (2^b levels of a tanh-squashed value, 1 to 16).</summary>
    public int MemoryCodeBits = 4;

    /// <summary>Width of the memory code's encoder (same architecture and heads as the decoder).</summary>
    public int MemoryEncoderWidth = 64;

    /// <summary>Blocks of the memory code's encoder.</summary>
    public int MemoryEncoderDepth = 2;

    /// <summary>
    /// Sequence-length warm-up: over this first fraction of training (of <see cref="SequenceTrainingOptions.MaxTrainingTime"/> when set, else of
    /// <see cref="SequenceTrainingOptions.Steps"/>) the windows grow linearly from 64 tokens to <see cref="ContextLength"/>, with more of them per
    /// batch so every step sees the same number of tokens. 0 (the default) trains on full windows from the start.
    /// The GPT baseline needs it at long contexts: its attention starts nearly uniform over every earlier position,
    /// so at n_ctx 512 the neighbour that predicts the next character carries about 1/256 of the signal and the model
    /// stays at the bigram level for most of a short run; on short windows it finds its neighbours first.
    /// </summary>
    public double ContextWarmupFraction;

    /// <summary>
    /// The number format of training. <see cref="MixerPrecision.BFloat16"/> computes in bfloat16 while the optimizer
    /// updates float32 master weights, which checkpoints and the trained model hold: faster on CPUs whose bfloat16
    /// products outrun float32 ones, slower elsewhere (the estimator measures this first and warns through the
    /// MLContext's log).
    /// </summary>
    public MixerPrecision Precision = MixerPrecision.Float32;

    /// <summary>
    /// Folder for periodic checkpoints (model, optimiser state, step, tokenizer). When it already holds a checkpoint
    /// of the same model and <see cref="ResumeFromCheckpoint"/> is set, training continues from it. Null disables checkpoints.
    /// </summary>
    public string? CheckpointFolder;

    /// <summary>Steps between checkpoints (a checkpoint is also written when training is cancelled).</summary>
    public int CheckpointInterval = 200;

    /// <summary>Continue from the checkpoint in <see cref="CheckpointFolder"/> when there is one.</summary>
    public bool ResumeFromCheckpoint = true;

    /// <summary>Receives loss, tokens/s and ETA every <see cref="SequenceTrainingOptions.LogInterval"/> steps and at the end.</summary>
    public IProgress<LanguageModelTrainingProgress>? Progress;

    /// <summary>Defaults used when the transformer maps rows and when <c>Generate</c> gets no options.</summary>
    public TextGenerationOptions Generation = new();
}

/// <summary>A progress report of language-model training.</summary>
/// <param name="Step">Steps done.</param>
/// <param name="TotalSteps">Steps planned.</param>
/// <param name="Loss">Mean training cross-entropy (nats per token) since the previous report.</param>
/// <param name="LearningRate">Current learning rate.</param>
/// <param name="TokensPerSecond">Training tokens processed per second since the previous report.</param>
/// <param name="EstimatedRemaining">Time left at the current speed.</param>
public sealed record LanguageModelTrainingProgress(int Step, int TotalSteps, double Loss, double LearningRate, double TokensPerSecond, TimeSpan EstimatedRemaining);

/// <summary>How well a language model predicts held-out text.</summary>
/// <param name="Loss">Mean cross-entropy per token, in nats.</param>
/// <param name="Perplexity">exp(Loss).</param>
/// <param name="BitsPerByte">Total cross-entropy in bits divided by the UTF-8 bytes predicted (each end of text counts as one byte): comparable across tokenizers.</param>
/// <param name="Tokens">Number of tokens predicted.</param>
public sealed record LanguageModelMetrics(double Loss, double Perplexity, double BitsPerByte, long Tokens)
{
    /// <summary>
    /// Total cross-entropy in nats divided by the characters predicted (each end of text counts as one): comparable across
    /// tokenizers and with <see cref="CharacterNgramBaseline.HeldOutLoss"/>; equal to <see cref="Loss"/> for character models.
    /// </summary>
    public double NatsPerCharacter { get; init; }

    /// <summary>
    /// Of <see cref="BitsPerByte"/>, the bits per byte spent on the memory codes of an encoder-augmented model (m · b bits per
    /// window of n_ctx − 1 tokens, counted in every figure as a compressed stream carries them); 0 for a causal model.
    /// </summary>
    public double CodeBitsPerByte { get; init; }
}
