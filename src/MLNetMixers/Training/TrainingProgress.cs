namespace MLNetMixers;

/// <summary>A snapshot of a mixer trainer's progress, reported through <see cref="MixerTrainerOptions.Progress"/>.</summary>
public sealed class TrainingProgress
{
    /// <summary>The current epoch, 1-based.</summary>
    public int Epoch { get; init; }

    /// <summary>The number of epochs planned.</summary>
    public int Epochs { get; init; }

    /// <summary>Optimizer steps taken so far.</summary>
    public long Step { get; init; }

    /// <summary>Optimizer steps planned (epochs x batches per epoch).</summary>
    public long TotalSteps { get; init; }

    /// <summary>Mean training loss since the previous report (the task's loss on standardised targets for regression).</summary>
    public double Loss { get; init; }

    /// <summary>The validation metric after this epoch, when a validation set was given; null otherwise and between epochs.</summary>
    public double? ValidationMetric { get; init; }

    /// <summary>The name of <see cref="ValidationMetric"/> (lower is better), e.g. "LogLoss" or "RMSE".</summary>
    public string? ValidationMetricName { get; init; }

    /// <summary>Training rows per second since training started.</summary>
    public double RowsPerSecond { get; init; }

    /// <summary>Wall time since training started.</summary>
    public TimeSpan Elapsed { get; init; }

    /// <summary>Estimated time to the last planned step (or to <see cref="MixerTrainerOptions.MaxTrainingTime"/> if sooner).</summary>
    public TimeSpan? EstimatedRemaining { get; init; }

    /// <inheritdoc/>
    public override string ToString()
        => $"epoch {Epoch}/{Epochs}, step {Step}/{TotalSteps}, loss {Loss:G4}" +
           (ValidationMetric is { } v ? $", validation {ValidationMetricName} {v:G4}" : "") +
           $", {RowsPerSecond:F0} rows/s, elapsed {Elapsed:hh\\:mm\\:ss}" +
           (EstimatedRemaining is { } eta ? $", remaining ~{eta:hh\\:mm\\:ss}" : "");
}
