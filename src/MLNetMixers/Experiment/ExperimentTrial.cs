using Microsoft.ML;

namespace MLNetMixers;

/// <summary>What a trial trained.</summary>
public enum ExperimentFamily
{
    /// <summary>The mixer over the encoded characters.</summary>
    Mixer,

    /// <summary>LightGBM over featurized columns.</summary>
    LightGbm,

    /// <summary>The average of the best mixer's and the best LightGBM's predictions.</summary>
    Ensemble,
}

/// <summary>One finished trial of a <see cref="MixerExperiment"/>: a row of the leaderboard.</summary>
public sealed class ExperimentTrial
{
    internal ExperimentTrial(int number, ExperimentFamily family, IReadOnlyDictionary<string, string> parameters, double metric, string metricName,
                             double seconds, string? error)
    {
        Number = number;
        Family = family;
        Parameters = parameters;
        Metric = metric;
        MetricName = metricName;
        Seconds = seconds;
        Error = error;
    }

    /// <summary>1-based, in the order the trials ran.</summary>
    public int Number { get; }

    /// <summary>What it trained.</summary>
    public ExperimentFamily Family { get; }

    /// <summary>The settings it tried ("default" where the trainer's own default was kept).</summary>
    public IReadOnlyDictionary<string, string> Parameters { get; }

    /// <summary>The cross-validated metric over the out-of-fold predictions (higher is better); NaN when the trial failed.</summary>
    public double Metric { get; }

    /// <summary>AUC (binary), MacroAccuracy (multiclass) or RSquared (regression).</summary>
    public string MetricName { get; }

    /// <summary>Wall time of the trial (all its folds).</summary>
    public double Seconds { get; }

    /// <summary>Why the trial failed (e.g. LightGBM found no split); null when it finished.</summary>
    public string? Error { get; }

    /// <summary>The parameters as one line: "Width=64 Depth=4 ...".</summary>
    public string Describe() => string.Join(" ", Parameters.Select(p => $"{p.Key}={p.Value}"));

    /// <inheritdoc/>
    public override string ToString()
        => $"#{Number} {Family} {MetricName} {(double.IsNaN(Metric) ? "failed" : Metric.ToString("F4", System.Globalization.CultureInfo.InvariantCulture))} " +
           $"({Seconds:F1} s) {Describe()}{(Error is null ? "" : " - " + Error)}";
}

/// <summary>The outcome of <see cref="MixerExperiment.Execute(IDataView)"/>.</summary>
public sealed class MixerExperimentResult
{
    internal MixerExperimentResult(ITransformer model, ExperimentFamily chosen, IReadOnlyList<ExperimentTrial> trials, string metricName,
                                   bool refitted, bool cancelled, string validation, int mixerModels)
    {
        MixerModels = mixerModels;
        Model = model;
        Chosen = chosen;
        Trials = trials;
        MetricName = metricName;
        Refitted = refitted;
        Cancelled = cancelled;
        Validation = validation;
    }

    /// <summary>
    /// The chosen model: it takes the raw columns and adds the standard prediction columns (Score; Probability and a
    /// Boolean PredictedLabel for binary; a key PredictedLabel for multiclass). Saves with <c>mlContext.Model.Save</c>.
    /// </summary>
    public ITransformer Model { get; }

    /// <summary>Whether the model is a mixer, LightGBM or the ensemble of both.</summary>
    public ExperimentFamily Chosen { get; }

    /// <summary>Every trial in the order it ran (the ensemble's score last, when computed).</summary>
    public IReadOnlyList<ExperimentTrial> Trials { get; }

    /// <summary>The trials that finished, best first.</summary>
    public IReadOnlyList<ExperimentTrial> Leaderboard
        => Trials.Where(t => !double.IsNaN(t.Metric)).OrderByDescending(t => t.Metric).ThenBy(t => t.Number).ToList();

    /// <summary>The best trial of the chosen family (the ensemble's row when the ensemble was chosen).</summary>
    public ExperimentTrial BestTrial => Leaderboard.First(t => t.Family == Chosen);

    /// <summary>AUC, MacroAccuracy or RSquared.</summary>
    public string MetricName { get; }

    /// <summary>
    /// True when the model's trees and single mixer were refitted on every row; false when they are the chosen trials'
    /// first-fold models (a cancelled or disabled refit). A fold-averaged mixer (<see cref="MixerModels"/> above 1) is never refitted.
    /// </summary>
    public bool Refitted { get; }

    /// <summary>
    /// How many mixer networks the model averages: k for a mixer averaged over its cross-validation folds
    /// (<see cref="MixerExperimentOptions.AverageMixerFoldModels"/>), 1 for a refitted one, 0 when the trees were chosen.
    /// </summary>
    public int MixerModels { get; }

    /// <summary>True when the CancellationToken stopped the experiment (the model is the best found so far).</summary>
    public bool Cancelled { get; }

    /// <summary>Benchmarks (<see cref="MixerExperimentOptions.KeepFamilyModels"/>): the best model of each family and their ensemble.</summary>
    internal IReadOnlyDictionary<ExperimentFamily, ITransformer>? FamilyModels { get; init; }

    /// <summary>Benchmarks: the refitted tree models the ensemble averages (the best first).</summary>
    internal IReadOnlyList<ITransformer>? EnsembleTreeModels { get; init; }

    /// <summary>Benchmarks: the refitted mixer's trial's cross-validation networks, to score their average beside the refit in one run.</summary>
    internal IReadOnlyList<ITransformer>? MixerFoldModels { get; init; }

    /// <summary>How trials were scored, e.g. "3-fold cross-validation on 800 rows".</summary>
    public string Validation { get; }
}
