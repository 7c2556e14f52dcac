namespace MLNetMixers.Training;

/// <summary>The optimisation knobs of <see cref="SequenceTrainingOptions"/> as one immutable value, so that a loop trained in stages can change them with <c>with</c>.</summary>
internal sealed record SequenceTrainingSettings(int Steps, int BatchSize, double LearningRate, int WarmupSteps, double MinLearningRateRatio,
                                                double WeightDecay, double GradientClipNorm, TimeSpan? MaxTrainingTime, int Seed, int LogInterval,
                                                CancellationToken CancellationToken);
