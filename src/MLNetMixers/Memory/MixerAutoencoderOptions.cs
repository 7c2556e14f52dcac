namespace MLNetMixers;

/// <summary>How a memory decoder reads the one memory vector it regenerates a chunk from.</summary>
public enum MemoryDecoding
{
    /// <summary>
    /// The memory is a pseudo-token before the chunk's tokens, and position i predicts c_i having read c_0..c_{i-1}
    /// (teacher forcing; regeneration feeds back its own tokens). The decoder can do well as a language model of its own
    /// prefix, so the memory gets little of the gradient.
    /// </summary>
    TeacherForced = 0,

    /// <summary>
    /// The paper's unrolled decoder: every position reads its own cyclic slice of the memory (half of it, starting at the
    /// position's index) and no token, and position i predicts c_i (then the end of text). Everything it gets right beyond
    /// per-position frequencies came from the memory.
    /// </summary>
    Unrolled = 1,
}

/// <summary>
/// Options of <c>TrainMixerAutoencoder</c>: the chunk, the memory, the encoder and decoder, and their training. The shape
/// (<see cref="SequenceTrainingOptions.Width"/>, <see cref="SequenceTrainingOptions.Depth"/>, ...) is each of the encoder and
/// the decoder; <see cref="SequenceTrainingOptions.Steps"/> = 0 gives the untrained encoder (a baseline of the memory measurement).
/// </summary>
public sealed class MixerAutoencoderOptions : SequenceTrainingOptions
{
    /// <summary>The memory vector column the transformer adds.</summary>
    public string MemoryColumnName = "Memory";

    /// <summary>L: tokens per chunk. Training texts are cut into chunks of L tokens; a transformed text is remembered by its first L.</summary>
    public int ChunkLength = 128;

    /// <summary>Length of the one memory vector per chunk (the encoder's last hidden state goes through a Width -> MemoryWidth bottleneck).</summary>
    public int MemoryWidth = 64;

    /// <summary>
    /// How the decoder reads the memory. Teacher-forced stays the default until a benchmark shows the paper's unrolled
    /// decoder forming better memories in the same time (a short loaded run could not tell; benchmarks/results/MemoryInformation.md).
    /// </summary>
    public MemoryDecoding Decoding = MemoryDecoding.TeacherForced;

    /// <summary>Characters (learned from the training text) or bytes.</summary>
    public TextTokenization Tokenization = TextTokenization.Characters;

    /// <summary>
    /// Chunk-length warm-up: chunks are cut to 16 tokens at first and grow to <see cref="ChunkLength"/> over this fraction
    /// of the training (steps, or time under a budget); 0 trains on whole chunks throughout. A memory of a short chunk forms
    /// in a few thousand steps where one of a long chunk barely starts, so the autoencoder learns to remember short
    /// chunks first and extends that to long ones.
    /// </summary>
    public double LengthWarmupFraction = 0.5;

    internal void Validate()
    {
        ValidateTraining(minimumSteps: 0);
        AtLeast(ChunkLength, 1, nameof(ChunkLength));
        if (MemoryWidth < 1)
            throw new ArgumentOutOfRangeException(nameof(MemoryWidth), MemoryWidth, "MemoryWidth must be at least 1.");
        if (!Enum.IsDefined(Decoding))
            throw new ArgumentOutOfRangeException(nameof(Decoding), Decoding, "Unknown memory decoding.");
        if (!(LengthWarmupFraction >= 0 && LengthWarmupFraction <= 1))
            throw new ArgumentOutOfRangeException(nameof(LengthWarmupFraction), LengthWarmupFraction, "LengthWarmupFraction must be between 0 and 1.");
        if (Tokenization is not (TextTokenization.Characters or TextTokenization.Bytes))
            throw new ArgumentException("The autoencoder tokenizes Characters or Bytes.", nameof(Tokenization));
        if (string.IsNullOrEmpty(MemoryColumnName))
            throw new ArgumentException("MemoryColumnName must not be empty.", nameof(MemoryColumnName));
    }
}
