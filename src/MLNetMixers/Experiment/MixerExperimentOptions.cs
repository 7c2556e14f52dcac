using Microsoft.ML;

namespace MLNetMixers;

/// <summary>
/// Options of <see cref="MixerExperiment"/>: a time-budgeted search over the mixer's and LightGBM's settings, each
/// trial scored by cross-validation inside the rows given to <see cref="MixerExperiment.Execute(IDataView)"/>.
/// </summary>
public sealed class MixerExperimentOptions
{
    /// <summary>The label: Boolean (binary), a key (multiclass: put MapValueToKey first) or Single (regression).</summary>
    public string LabelColumnName = "Label";

    /// <summary>The raw input columns (numbers, Booleans, text). Empty: every visible column but the label.</summary>
    public string[] FeatureColumnNames = [];

    /// <summary>
    /// Wall time for the experiment: the search stops starting trials when the next one (estimated from the earlier
    /// ones) and the refit of the best models would not fit; the refit itself runs last, whatever is left.
    /// </summary>
    public TimeSpan MaxExperimentTime = TimeSpan.FromMinutes(2);

    /// <summary>Folds of the cross-validation that scores each trial, at least 2.</summary>
    public int NumberOfFolds = 3;

    /// <summary>
    /// Above this many rows a trial is scored on one validation split (<see cref="ValidationFraction"/>) instead of
    /// k folds: on large tables one split is already a precise score, and k fits would leave time for few trials.
    /// </summary>
    public int CrossValidationMaxRows = 20_000;

    /// <summary>Share of the rows a large table's trials are scored on, in (0, 1).</summary>
    public double ValidationFraction = 0.2;

    /// <summary>Run trials of the mixer.</summary>
    public bool SearchMixer = true;

    /// <summary>Run trials of LightGBM (over featurized columns: numbers mean-imputed, categories one-hot, free text featurized).</summary>
    public bool SearchTrees = true;

    /// <summary>
    /// Consider a weighted average of the best mixer's predictions and the trees' (the top <see cref="EnsembleTreeTrials"/>
    /// tree trials averaged; the mixer's weight, 0.1 to 0.9, chosen on nested out-of-fold rows: each fold's rows
    /// predicted by the trials ranked best on the other folds); kept only when cross-validation prefers it.
    /// </summary>
    public bool Ensemble = true;

    /// <summary>
    /// How many of the best tree trials the ensemble's trees average (1: the best alone). The best of hundreds of tree
    /// trials on a small table owes part of its cross-validated score to luck, which drew the ensemble's weight toward the
    /// trees; the average of the top few is steadier and adds their differences (benchmarks/results/AccuracyExperiment.md).
    /// </summary>
    public int EnsembleTreeTrials = 5;

    /// <summary>
    /// The mixer's final model averages the k networks its best trial trained during cross-validation (each on (k-1)/k of
    /// the rows, as AutoGluon bags its models) instead of one network refitted on every row. It needs no refit time,
    /// which the search gets instead, and scores k times slower. Off by default: on the accuracy benchmark the one
    /// refitted network scored higher on most tables (benchmarks/results/AccuracyExperiment.md). Ignored with one
    /// validation split (<see cref="CrossValidationMaxRows"/>).
    /// </summary>
    public bool AverageMixerFoldModels;

    /// <summary>
    /// Refit the chosen trees (and a mixer that is not fold-averaged) on every row once the search ends (this may overrun
    /// the budget by about one fold's fit). Otherwise, or when the token cancelled the experiment, the models trained on
    /// the chosen trials' first fold are returned.
    /// </summary>
    public bool Refit = true;

    /// <summary>
    /// The mixer's encoder; null for the defaults. Its input columns are set to <see cref="FeatureColumnNames"/> when empty,
    /// and its output column is the experiment's.
    /// </summary>
    public CharacterEncodingOptions? Encoding;

    /// <summary>Where the mixer trains.</summary>
    public MixerDevice Device = MixerDevice.Auto;

    /// <summary>The mixer's number format.</summary>
    public MixerPrecision Precision = MixerPrecision.Float32;

    /// <summary>CPU threads of the mixer (torch) and LightGBM; null: their defaults.</summary>
    public int? NumberOfThreads;

    /// <summary>Seed of the folds, the sampling of trials and the trainers; null derives it from the MLContext's seed.</summary>
    public int? Seed;

    /// <summary>Receives every finished trial (and the ensemble's score), in order.</summary>
    public IProgress<ExperimentTrial>? Progress;

    /// <summary>
    /// Stops the experiment: the running trial is abandoned and the best model found so far is returned (without
    /// refitting: first-fold models, or the mixer's fold average). Only when no trial has finished does Execute throw <see cref="OperationCanceledException"/>.
    /// </summary>
    public CancellationToken CancellationToken;

    /// <summary>
    /// Benchmarks: refit the best of every family (and compose their ensemble), in <see cref="MixerExperimentResult.FamilyModels"/>,
    /// and keep the best mixer trial's fold networks (<see cref="MixerExperimentResult.MixerFoldModels"/>).
    /// </summary>
    internal bool KeepFamilyModels;

    /// <summary>Tests: changes every mixer trial's options after sampling (e.g. a tiny width for speed).</summary>
    internal Action<MixerTrainerOptions>? AdjustMixer;

    /// <summary>Tests: sees the rows every fit trains on and, during the search, the rows it is scored on.</summary>
    internal Action<ExperimentFamily, IDataView, IDataView?>? ObserveFit;
}
