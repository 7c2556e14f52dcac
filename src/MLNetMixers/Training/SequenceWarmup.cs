namespace MLNetMixers.Training;

/// <summary>
/// The sequence-length warm-ups of the shared trainers (language models' windows, autoencoders' chunks): short sequences
/// first, growing linearly to the full length over a fraction of the run.
/// </summary>
internal static class SequenceWarmup
{
    /// <summary>How far a run is (0..1): by the clock under a time budget, else by steps.</summary>
    public static double Progress(TimeSpan? budget, TimeSpan elapsed, long step, long steps)
        => budget is { } limit ? elapsed / limit : step / (double)steps;

    /// <summary>
    /// The length at <paramref name="progress"/>: <paramref name="first"/> at the start, <paramref name="full"/> from
    /// <paramref name="fraction"/> of the run on, rounded down to a multiple of <paramref name="multiple"/> on the way.
    /// </summary>
    public static int Length(int first, int full, double progress, double fraction, int multiple)
    {
        if (full <= first)
            return full;
        double ramp = Math.Min(1, progress / fraction);
        return Math.Min(full, Math.Max(first, (first + (int)(ramp * (full - first))) / multiple * multiple));
    }
}
