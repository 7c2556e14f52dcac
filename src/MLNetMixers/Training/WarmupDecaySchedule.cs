namespace MLNetMixers.Training;

/// <summary>
/// The learning-rate schedule every model trains with: linear warmup to the peak, then a cosine or linear decay to
/// <c>Peak · FloorRatio</c> at the last step. Under a time budget the schedule follows the clock as well as the steps.
/// </summary>
/// <param name="Peak">The learning rate at the end of the warmup.</param>
/// <param name="TotalSteps">Steps planned.</param>
/// <param name="WarmupSteps">Steps of the linear warmup.</param>
/// <param name="Decay">The shape of the decay after the warmup.</param>
/// <param name="FloorRatio">The decay ends at this fraction of the peak.</param>
/// <param name="TimeBudget">The training time after which the run stops; null when only the step count ends it.</param>
/// <param name="WarmupByStep">
/// Count the warm-up in steps taken even when the clock is further along. Retrieval needs it: its steps are few and slow
/// at first, and with the warm-up mapped to time its first steps would run near the peak on a randomly initialised
/// contrastive loss. The tabular trainers leave it off, so that a run cut to a few steps by a tight time cap still ends annealed.
/// </param>
internal sealed record WarmupDecaySchedule(double Peak, long TotalSteps, long WarmupSteps, LearningRateSchedule Decay, double FloorRatio = 0, TimeSpan? TimeBudget = null,
                                           bool WarmupByStep = false)
{
    /// <summary>The learning rate of <paramref name="step"/>, taken <paramref name="elapsed"/> into training.</summary>
    public double At(long step, TimeSpan elapsed) => WarmupByStep && step < WarmupSteps ? At(step) : At(ScheduleStep(step, elapsed));

    /// <summary>
    /// The step the schedule is at: the step count, or, under a time budget, the
    /// fraction of the time spent if that is further along. A run the time limit stops thus ends annealed, as if its
    /// schedule had been planned for the time, rather than at the peak learning rate or mid-warmup: one AdamW step at the
    /// peak can move a wide head's output by many standard deviations of the label (measured: benchmarks/results/Defaults.md).
    /// </summary>
    public long ScheduleStep(long step, TimeSpan elapsed)
    {
        if (TimeBudget is not { } limit || TotalSteps <= 0)
            return step;
        long byTime = (long)Math.Floor(Math.Min(1, elapsed / limit) * TotalSteps);
        return Math.Min(Math.Max(step, byTime), TotalSteps - 1);
    }

    /// <summary>The learning rate at schedule step <paramref name="step"/>.</summary>
    public double At(long step)
    {
        if (step < WarmupSteps)
            return Peak * (step + 1) / WarmupSteps;
        double progress = TotalSteps <= WarmupSteps ? 0 : Math.Min(1, (double)(step - WarmupSteps) / (TotalSteps - WarmupSteps));
        double floor = Peak * FloorRatio;
        return Decay switch
        {
            LearningRateSchedule.Cosine => floor + (Peak - floor) * 0.5 * (1 + Math.Cos(Math.PI * progress)),
            LearningRateSchedule.Linear => floor + (Peak - floor) * (1 - progress),
            _ => Peak,
        };
    }
}
