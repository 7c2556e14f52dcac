using MLNetMixers.Training;

namespace MLNetMixers;

/// <summary>
/// What every sequence model's training shares (the language model, retrieval towers, the autoencoder, the memory language
/// model and the memory measurement): the network's shape and one optimisation setup, trained by the shared
/// <see cref="TrainingStep"/> on the shared <see cref="WarmupDecaySchedule"/>. Each model's options add their own knobs and
/// set the defaults that differ from these in their constructor, as ML.NET's trainer options do.
/// </summary>
public abstract class SequenceTrainingOptions
{
    /// <summary>Token mixer of every block.</summary>
    public MixerLanguageModelArchitecture Architecture = MixerLanguageModelArchitecture.MaskedMixer;

    /// <summary>Feature width d of every position.</summary>
    public int Width = 128;

    /// <summary>Number of blocks.</summary>
    public int Depth = 2;

    /// <summary>Heads of the token mixer (1 = the flat masked mixer); the width must be a multiple of it. The transformer needs ≥ 1.</summary>
    public int Heads = 1;

    /// <summary>The channel MLP is d -> MlpRatio·d -> d.</summary>
    public int MlpRatio = 4;

    /// <summary>Most optimiser steps, each on <see cref="BatchSize"/> sequences; <see cref="MaxTrainingTime"/> may end training sooner.</summary>
    public int Steps = 1000;

    /// <summary>Sequences (windows, query-document pairs or chunks) per optimiser step.</summary>
    public int BatchSize = 16;

    /// <summary>
    /// Stops training once this much time has passed, even before <see cref="Steps"/>; null trains every step. The
    /// learning-rate schedule follows whichever of steps and time is further along, so a run the clock stops still ends
    /// with its learning rate decayed to the floor. Set <see cref="Steps"/> high enough for the time.
    /// </summary>
    public TimeSpan? MaxTrainingTime;

    /// <summary>Peak AdamW learning rate, reached after <see cref="WarmupSteps"/> and then decayed on a cosine.</summary>
    public double LearningRate = 1e-3;

    /// <summary>Linear warm-up from 0 to <see cref="LearningRate"/>.</summary>
    public int WarmupSteps = 20;

    /// <summary>The cosine decays to LearningRate · MinLearningRateRatio at the last step.</summary>
    public double MinLearningRateRatio = 0.1;

    /// <summary>AdamW's decoupled weight decay, applied to matrices only (not to biases or LayerNorm gains, as in nanoGPT).</summary>
    public double WeightDecay = 0.01;

    /// <summary>Gradients are clipped to this global norm; 0 disables clipping.</summary>
    public double GradientClipNorm = 1.0;

    /// <summary>Seed of the weights' initialisation and of what each step draws (windows, pairs and negatives, chunks).</summary>
    public int Seed = 0;

    /// <summary>Where the model trains and runs.</summary>
    public MixerDevice Device = MixerDevice.Auto;

    /// <summary>
    /// CPU threads torch may use while the model trains (restored afterwards: torch's count is process-wide); null leaves
    /// torch's count as it is (all cores by default).
    /// </summary>
    public int? NumberOfThreads;

    /// <summary>Steps between progress reports.</summary>
    public int LogInterval = 50;

    /// <summary>Stops training between steps (OperationCanceledException; <c>MLContext.CancelExecution</c> works too).</summary>
    public CancellationToken CancellationToken;

    /// <summary>Checks the shared knobs, naming the option at fault.</summary>
    /// <param name="minimumBatchSize">Retrieval's in-batch negatives need two pairs.</param>
    /// <param name="minimumSteps">0 where an untrained model is a meaningful baseline.</param>
    internal void ValidateTraining(int minimumBatchSize = 1, int minimumSteps = 1)
    {
        AtLeast(Width, 1, nameof(Width));
        AtLeast(Depth, 1, nameof(Depth));
        AtLeast(Heads, 1, nameof(Heads));
        AtLeast(MlpRatio, 1, nameof(MlpRatio));
        AtLeast(Steps, minimumSteps, nameof(Steps));
        AtLeast(BatchSize, minimumBatchSize, nameof(BatchSize));
        AtLeast(WarmupSteps, 0, nameof(WarmupSteps));
        AtLeast(LogInterval, 1, nameof(LogInterval));
        if (NumberOfThreads is { } threads)
            AtLeast(threads, 1, nameof(NumberOfThreads));
        if (Width % Heads != 0)
            throw new ArgumentException($"Width ({Width}) must be a multiple of Heads ({Heads}).", nameof(Heads));
        if (!Enum.IsDefined(Architecture))
            throw new ArgumentOutOfRangeException(nameof(Architecture), Architecture, "Unknown architecture.");
        if (!(LearningRate > 0) || double.IsInfinity(LearningRate))
            throw new ArgumentOutOfRangeException(nameof(LearningRate), LearningRate, "LearningRate must be a positive finite number.");
        if (!(MinLearningRateRatio is >= 0 and <= 1))
            throw new ArgumentOutOfRangeException(nameof(MinLearningRateRatio), MinLearningRateRatio, "MinLearningRateRatio must be between 0 and 1.");
        if (!(WeightDecay >= 0) || double.IsInfinity(WeightDecay))
            throw new ArgumentOutOfRangeException(nameof(WeightDecay), WeightDecay, "WeightDecay must be a finite number of at least 0.");
        if (!(GradientClipNorm >= 0) || double.IsInfinity(GradientClipNorm))
            throw new ArgumentOutOfRangeException(nameof(GradientClipNorm), GradientClipNorm, "GradientClipNorm must be a finite number of at least 0 (0 disables clipping).");
        if (MaxTrainingTime is { } limit && limit <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(MaxTrainingTime), limit, "MaxTrainingTime must be positive (or null for no time limit).");
    }

    /// <summary>Rejects an integer option below its minimum, in the sentence every sequence model's options use.</summary>
    internal static void AtLeast(int value, int minimum, string name)
    {
        if (value < minimum)
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be at least {minimum}.");
    }

    /// <summary>The optimisation knobs as one immutable value, for loops that train in stages (the memory curriculum).</summary>
    internal SequenceTrainingSettings Settings => new(Steps, BatchSize, LearningRate, WarmupSteps, MinLearningRateRatio, WeightDecay,
                                                      GradientClipNorm, MaxTrainingTime, Seed, LogInterval, CancellationToken);
}
