namespace MLNetMixers;

/// <summary>
/// Options shared by the mixer trainers (binary, multiclass, regression). The defaults train well on small and
/// medium tables (hundreds to tens of thousands of rows) without tuning.
/// </summary>
public abstract class MixerTrainerOptions
{
    /// <summary>The label column. Its type depends on the task: see each trainer.</summary>
    public string LabelColumnName = "Label";

    /// <summary>
    /// The encoded rows: a known-size vector of keys, as written by <c>mlContext.Transforms.EncodeAsCharacters</c>.
    /// </summary>
    public string FeatureColumnName = "Features";

    /// <summary>The network: the mixer, or one of the baselines for comparisons.</summary>
    public TabularArchitecture Architecture = TabularArchitecture.Mixer;

    /// <summary>Features per position (d).</summary>
    public int Width = 64;

    /// <summary>Number of blocks (mixer or transformer), or hidden layers of the MLP baseline.</summary>
    public int Depth = 4;

    /// <summary>Expansion of the channel MLP in each block: d -> MlpRatio·d -> d.</summary>
    public int MlpRatio = 4;

    /// <summary>Token-mixing heads (mixer) or attention heads (transformer); must divide <see cref="Width"/>.</summary>
    public int Heads = 1;

    /// <summary>
    /// The most tokens the blocks mix. A row encoded into more positions (a wide table: about one position per number
    /// column, more for text) is mixed as groups of adjacent positions: ceil(T / MaxMixedTokens) positions' embeddings
    /// are concatenated and projected to one token, so that the T x T mixing and every block's cost stop growing with
    /// the columns (benchmarks/results/WideTables.md). Attribution still scores every position. 0 never groups.
    /// </summary>
    public int MaxMixedTokens = 512;

    /// <summary>
    /// Dropout probability on the embeddings and on each residual branch, in [0, 1). Null (the default) chooses it from
    /// the encoding and the table: 0 with value tokens (<see cref="CharacterEncodingOptions.NumberValueTokens"/>, the
    /// encoder's default: dropping the one token that carries a number hurts); with digits, 0.3 for classification on
    /// fewer than 1,000 training rows (where the mixer memorises its rows) and 0.1 otherwise. Measured by the accuracy
    /// benchmark: benchmarks/results/Defaults.md#dropout.
    /// The value chosen is logged and saved with the model; a value set here is used as given.
    /// </summary>
    public double? Dropout;

    /// <summary>Below this many training rows <see cref="Dropout"/> = null gives <see cref="SmallTableDropout"/>.</summary>
    internal const int SmallTableRows = 1000;

    /// <summary>The dropout <see cref="Dropout"/> = null gives tables of <see cref="SmallTableRows"/> training rows or more.</summary>
    internal const double LargeTableDropout = 0.1;

    /// <summary>The dropout <see cref="Dropout"/> = null gives tables of fewer than <see cref="SmallTableRows"/> training rows.</summary>
    internal virtual double SmallTableDropout => 0.3;

    /// <summary>
    /// The dropout the trainer uses on <paramref name="trainingRows"/> rows whose features do or do not carry value tokens:
    /// <see cref="Dropout"/> when set, else the rule above.
    /// </summary>
    internal double ResolveDropout(long trainingRows, bool valueTokens)
        => Dropout ?? (valueTokens ? ValueTokenDropout : trainingRows < SmallTableRows ? SmallTableDropout : LargeTableDropout);

    /// <summary>The dropout <see cref="Dropout"/> = null gives features with value tokens, at every size.</summary>
    internal const double ValueTokenDropout = 0;

    /// <summary>
    /// Passes over the training data. 20 suits multiclass tables of hundreds to thousands of rows; the binary trainer's
    /// options default to 6 and the regression trainer's to 40 (benchmarks/results/Defaults.md#epochs). Give a
    /// validation set and <see cref="EarlyStoppingPatience"/> to stop at the best epoch instead.
    /// </summary>
    public int Epochs = 20;

    /// <summary>Rows per optimizer step.</summary>
    public int BatchSize = 32;

    /// <summary>Peak learning rate of AdamW, reached at the end of the warmup.</summary>
    public double LearningRate = 1e-3;

    /// <summary>AdamW's decoupled weight decay, applied to matrices only (not to biases, norms or embeddings' scale).</summary>
    public double WeightDecay = 0.05;

    /// <summary>Fraction of all steps spent ramping the learning rate linearly from zero to its peak, in [0, 1).</summary>
    public double WarmupFraction = 0.05;

    /// <summary>How the learning rate decays after the warmup.</summary>
    public LearningRateSchedule Schedule = LearningRateSchedule.Cosine;

    /// <summary>Largest global L2 norm of the gradients before each step; 0 or less turns clipping off.</summary>
    public double GradientClipNorm = 1.0;

    /// <summary>
    /// Stop after this many epochs without improvement of the validation metric, and keep the best epoch's weights.
    /// Needs a validation set: <c>trainer.Fit(train, validation)</c>. Null trains every epoch (and still keeps the
    /// best epoch's weights when a validation set is given).
    /// </summary>
    public int? EarlyStoppingPatience;

    /// <summary>
    /// Stop training after this much wall time (the model trained so far is kept). Null: no limit. The learning-rate
    /// schedule follows whichever of steps and time is further along, so a run the limit stops still ends with the
    /// learning rate annealed to zero (benchmarks/results/Defaults.md#time-budget).
    /// </summary>
    public TimeSpan? MaxTrainingTime;

    /// <summary>
    /// When set, scoring also writes the model's final representation of each row to a column of this name: a vector
    /// of <see cref="Width"/> floats (the mixer's normed hidden states averaged over positions; the MLP baseline's
    /// last hidden layer), for k-NN, clustering or another learner. Null (the default) adds no column. Saved with the
    /// model; the ONNX export does not include it.
    /// </summary>
    public string? EmbeddingColumnName;

    /// <summary>Where to train and score.</summary>
    public MixerDevice Device = MixerDevice.Auto;

    /// <summary>
    /// CPU threads torch may use while this trainer trains. torch's count is process-wide: it is set for the training
    /// run and the count found before is restored afterwards. Null leaves torch's count as it is (all cores by default).
    /// </summary>
    public int? NumberOfThreads;

    /// <summary>The number format of training. <see cref="MixerPrecision.BFloat16"/> is an opt-in for CPUs.</summary>
    public MixerPrecision Precision = MixerPrecision.Float32;

    /// <summary>
    /// Seed of weight initialisation, dropout and shuffling. Null derives it from the MLContext's seed, so the same
    /// MLContext seed and data give bit-identical models on the CPU.
    /// </summary>
    public int? Seed;

    /// <summary>Receives a report after every epoch and about every two seconds in between.</summary>
    public IProgress<TrainingProgress>? Progress;

    /// <summary>Cancels training within one optimizer step (Fit throws <see cref="OperationCanceledException"/>).</summary>
    public CancellationToken CancellationToken;
}
