namespace MLNetMixers;

/// <summary>Where the negatives of each query come from in contrastive training.</summary>
public enum RetrievalNegatives
{
    /// <summary>
    /// Each query gets its own <see cref="MixerRetrievalOptions.Candidates"/> - 1 documents drawn at random from the
    /// training pairs (the paper's recipe: one positive among k).
    /// </summary>
    Sampled,

    /// <summary>The other documents of the batch are the negatives (batch size - 1 of them): no extra documents to embed.</summary>
    InBatch,
}

/// <summary>Options of <c>TrainMixerRetrieval</c>: the towers, the InfoNCE objective and its training.</summary>
public sealed class MixerRetrievalOptions : SequenceTrainingOptions
{
    /// <summary>
    /// Retrieval's defaults where they differ from <see cref="SequenceTrainingOptions"/>: width 256, 32 queries per step,
    /// a progress report every 25 steps, and a peak learning rate of 1e-2, which suits towers trained from scratch;
    /// starting from a <see cref="LanguageModel"/>, a lower one (e.g. 5e-4) keeps more of what it learned.
    /// </summary>
    public MixerRetrievalOptions()
    {
        Width = 256;
        BatchSize = 32;
        LearningRate = 1e-2;
        LogInterval = 25;
    }

    /// <summary>Embedding column made from the query column.</summary>
    public string QueryEmbeddingColumnName = "QueryEmbedding";

    /// <summary>Embedding column made from the document column.</summary>
    public string DocumentEmbeddingColumnName = "DocumentEmbedding";

    /// <summary>
    /// A trained language model to start from (its weights are copied; it is left as it is). Null trains the towers from
    /// a fresh initialisation with <see cref="SequenceTrainingOptions.Architecture"/>, <see cref="SequenceTrainingOptions.Width"/>, ...
    /// </summary>
    public MixerLanguageModelTransformer? LanguageModel;

    /// <summary>
    /// Tokenization of a tower trained from scratch, learned from both columns. Subwords by default: word pieces give
    /// the rare words a summary shares with its description (program names, formats) a token of their own, which
    /// characters make the towers assemble first (benchmarks/results/Retrieval.md).
    /// </summary>
    public TextTokenization Tokenization = TextTokenization.Subwords;

    /// <summary>
    /// Tokens (256 bytes, the learned merges, end of text) of a from-scratch tower with <see cref="TextTokenization.Subwords"/>;
    /// a larger vocabulary leaves each rare token fewer updates in a short training.
    /// </summary>
    public int SubwordVocabularySize = 8192;

    /// <summary>n_ctx of a tower trained from scratch: texts are cut to their first n_ctx - 1 tokens (160 subwords hold most package descriptions whole).</summary>
    public int ContextLength = 160;

    /// <summary>Dropout on each block's residual branches of a tower trained from scratch (training only).</summary>
    public double Dropout = 0;

    /// <summary>
    /// Share of each training text's tokens left out at random, drawn afresh every step (training only; embedding reads
    /// whole texts): an augmentation against the towers memorising the training pairs word for word. The default, a
    /// quarter, ranked held-out pairs best of the shares the retrieval benchmark tried; 0 turns it off.
    /// </summary>
    public double TokenDropout = 0.25;

    /// <summary>Queries and documents get separate copies of the model (two towers) instead of one shared one.</summary>
    public bool SeparateTowers;

    /// <summary>
    /// How hidden states are pooled into the embedding. The mean is the default: trained briefly, last-token embeddings
    /// collapsed to one point while mean-pooled ones learned (benchmarks/results/Retrieval.md).
    /// </summary>
    public EmbeddingPooling Pooling = EmbeddingPooling.Mean;

    /// <summary>τ of InfoNCE over cosine similarities (the paper's 0.02).</summary>
    public double Temperature = 0.02;

    /// <summary>Where the negatives come from.</summary>
    public RetrievalNegatives Negatives = RetrievalNegatives.InBatch;

    /// <summary>
    /// Share of each step's negatives that are hard: training pairs whose documents share the query's rarest tokens
    /// (mined once before training). In-batch, that share of the batch comes as pairs with one of their neighbours;
    /// sampled, that share of each query's k - 1 negatives. 0 draws every negative at random.
    /// </summary>
    public double HardNegativeShare = 0;

    /// <summary>In-batch negatives only: also train document -> query (each document against the batch's queries), the mean of both losses.</summary>
    public bool SymmetricLoss;

    /// <summary>k: candidates per query (one positive, k - 1 sampled negatives) when <see cref="Negatives"/> is Sampled.</summary>
    public int Candidates = 8;

    /// <summary>Folder for periodic checkpoints (towers, optimiser, step, elapsed time); null disables them.</summary>
    public string? CheckpointFolder;

    /// <summary>Steps between checkpoints (one is also written at the end and when cancelled).</summary>
    public int CheckpointInterval = 200;

    /// <summary>Continue from the checkpoint in <see cref="CheckpointFolder"/> when it holds one of the same towers.</summary>
    public bool ResumeFromCheckpoint = true;

    /// <summary>Receives loss, pairs/s and how far training is.</summary>
    public IProgress<RetrievalTrainingProgress>? Progress;

}

/// <summary>A progress report of retrieval training.</summary>
/// <param name="Step">Steps done.</param>
/// <param name="MaxSteps">Most steps planned.</param>
/// <param name="Fraction">How far training is (0..1): the larger of steps and time spent over their limits.</param>
/// <param name="Loss">Mean InfoNCE loss since the previous report.</param>
/// <param name="LearningRate">Current learning rate.</param>
/// <param name="PairsPerSecond">Training pairs (queries) processed per second since the previous report.</param>
/// <param name="Elapsed">Training time so far.</param>
public sealed record RetrievalTrainingProgress(int Step, int MaxSteps, double Fraction, double Loss, double LearningRate, double PairsPerSecond, TimeSpan Elapsed);
