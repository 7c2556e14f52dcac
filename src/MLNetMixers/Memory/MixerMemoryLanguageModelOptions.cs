namespace MLNetMixers;

/// <summary>What a memory language model is trained to do.</summary>
public enum MemoryObjective
{
    /// <summary>Next-token prediction of every chunk, reading the memories of the chunks before it.</summary>
    Causal,

    /// <summary>Information retention: regenerate a chunk from the memories alone (its own the most recent).</summary>
    Copy,

    /// <summary>Both losses, added, in every step.</summary>
    Combined,
}

/// <summary>Options of <c>TrainMixerMemoryLanguageModel</c>: chunks, memories, encoder and decoder, objective and training.</summary>
public sealed class MixerMemoryLanguageModelOptions : SequenceTrainingOptions
{
    /// <summary>The memory language model's defaults where they differ from <see cref="SequenceTrainingOptions"/>: 8 sequences per step (each holds several chunks).</summary>
    public MixerMemoryLanguageModelOptions()
    {
        BatchSize = 8;
    }

    /// <summary>Column the transformer adds: each text's cross-entropy under the model, in nats per token (reading its memories).</summary>
    public string LossColumnName = "Loss";

    /// <summary>L: tokens per chunk; one memory per chunk. Must equal the <see cref="Encoder"/>'s chunk length when one is given.</summary>
    public int ChunkLength = 128;

    /// <summary>Length of each memory vector. Must equal the <see cref="Encoder"/>'s memory width when one is given.</summary>
    public int MemoryWidth = 64;

    /// <summary>S: the memories of the S previous chunks the decoder reads (training windows hold S + 1 chunks). 0 gives the no-memory control.</summary>
    public int Memories = 3;

    /// <summary>Causal, copy, or both (the paper: causal training alone forms poor memories).</summary>
    public MemoryObjective Objective = MemoryObjective.Combined;

    /// <summary>
    /// Starts from this trained autoencoder's encoder and bottleneck (its tokenizer, chunk length and memory width too);
    /// null trains a fresh encoder with the decoder.
    /// </summary>
    public MixerAutoencoderTransformer? Encoder;

    /// <summary>Keeps the encoder's weights fixed (every chunk's memory is computed once); only the decoder learns.</summary>
    public bool FreezeEncoder;

    /// <summary>
    /// The paper's two-stage curriculum: the first <see cref="CurriculumCopyFraction"/> of the steps and time trains the copy
    /// objective alone, the rest <see cref="Objective"/>. Best with a frozen high-fidelity <see cref="Encoder"/>.
    /// </summary>
    public bool Curriculum;

    /// <summary>Share of the budget the curriculum's copy stage takes.</summary>
    public double CurriculumCopyFraction = 0.5;

    /// <summary>Characters (learned from the training text) or bytes; an <see cref="Encoder"/> brings its own.</summary>
    public TextTokenization Tokenization = TextTokenization.Characters;

    internal void Validate()
    {
        ValidateTraining(minimumSteps: 0);
        AtLeast(ChunkLength, 1, nameof(ChunkLength));
        if (MemoryWidth < 1)
            throw new ArgumentOutOfRangeException(nameof(MemoryWidth), MemoryWidth, "MemoryWidth must be at least 1.");
        if (Memories < 0)
            throw new ArgumentOutOfRangeException(nameof(Memories), Memories, "Memories must not be negative.");
        if (!Enum.IsDefined(Objective))
            throw new ArgumentOutOfRangeException(nameof(Objective), Objective, "Unknown objective.");
        if (Memories == 0 && (Objective != MemoryObjective.Causal || Curriculum))
            throw new ArgumentException("With Memories = 0 there is nothing to copy from: use Objective = Causal without Curriculum.", nameof(Objective));
        if (Tokenization is not (TextTokenization.Characters or TextTokenization.Bytes))
            throw new ArgumentException("The memory language model tokenizes Characters or Bytes.", nameof(Tokenization));
        if (!(CurriculumCopyFraction > 0 && CurriculumCopyFraction < 1))
            throw new ArgumentOutOfRangeException(nameof(CurriculumCopyFraction), CurriculumCopyFraction, "CurriculumCopyFraction must be between 0 and 1.");
        if (string.IsNullOrEmpty(LossColumnName))
            throw new ArgumentException("LossColumnName must not be empty.", nameof(LossColumnName));
        if (Encoder is { } encoder && (encoder.ChunkLength != ChunkLength || encoder.MemoryWidth != MemoryWidth))
            throw new ArgumentException(
                $"The Encoder remembers chunks of {encoder.ChunkLength} tokens in {encoder.MemoryWidth} numbers; set ChunkLength and MemoryWidth to match " +
                $"(they are {ChunkLength} and {MemoryWidth}).", nameof(Encoder));
    }
}

/// <summary>Held-out cross-entropy of a memory language model, in nats per token.</summary>
/// <param name="Loss">Next-token loss, each chunk reading the memories of the chunks before it.</param>
/// <param name="LossWithoutMemories">The same decoder with every memory slot empty: what the memories are worth is the difference.</param>
/// <param name="CopyLoss">Loss regenerating each chunk from the memories alone (how much the memories keep); NaN without memories.</param>
/// <param name="CopyTokenAccuracy">Share of chunk tokens whose argmax regeneration is right; NaN without memories.</param>
/// <param name="Tokens">Tokens predicted (end markers included).</param>
public sealed record MemoryLanguageModelMetrics(double Loss, double LossWithoutMemories, double CopyLoss, double CopyTokenAccuracy, long Tokens);
