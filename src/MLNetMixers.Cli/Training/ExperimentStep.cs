using System.Diagnostics;
using System.Globalization;
using Microsoft.ML;
using MLNetMixers.Cli.Terminal;

namespace MLNetMixers.Cli.Training;

/// <summary>
/// The default training of the classification and regression commands: the library's <see cref="MixerExperiment"/>
/// spends --train-time on trials of the mixer and of LightGBM, scored by cross-validation inside the training rows
/// only, and keeps the mixer, the trees or their average, whichever cross-validation prefers.
/// </summary>
internal static class ExperimentStep
{
    /// <summary>Runs the experiment on the training split; Ctrl+C (the input's token) returns the best model so far.</summary>
    public static MixerExperimentResult Run(MLContext mlContext, MixerStepInput input, ProgressReport report)
    {
        var settings = input.Settings;
        var budget = settings.TrainTime ?? MixerStep.DefaultTrainTime;
        var options = new MixerExperimentOptions
        {
            LabelColumnName = input.Label.Column,
            FeatureColumnNames = [.. input.FeatureColumns],
            MaxExperimentTime = budget,
            // Empty fields and the NA spellings the sniffer saw are missing values, as in the single-mixer run.
            Encoding = new CharacterEncodingOptions { InputColumnNames = [.. input.FeatureColumns], MissingTextValues = ["", .. input.Schema.MissingTokens] },
            Device = settings.Device,
            Precision = settings.Precision,
            NumberOfThreads = settings.Threads,
            Seed = settings.Seed,
            CancellationToken = input.Cancellation,
            Progress = new TrialReport(report, budget, Stopwatch.StartNew()),
        };
        var experiment = input.Label.Kind switch
        {
            LearningTask.Binary => mlContext.BinaryClassification.MixerExperiment(options),
            LearningTask.Multiclass => mlContext.MulticlassClassification.MixerExperiment(options),
            _ => mlContext.Regression.MixerExperiment(options),
        };
        report(0, $"trials of the mixer and LightGBM for {budget.TotalSeconds:F0} s", true);
        return experiment.Execute(input.Train);
    }

    /// <summary>The name the chosen model gets in the metrics table and metrics.json.</summary>
    public static string ModelName(ExperimentFamily family) => family switch
    {
        ExperimentFamily.Mixer => "Mixer",
        ExperimentFamily.LightGbm => "LightGBM (tuned)",
        _ => "Ensemble",
    };

    /// <summary>The leaderboard as text lines: best first, at most <paramref name="top"/> rows.</summary>
    public static IEnumerable<string> Leaderboard(MixerExperimentResult result, int top = 10)
    {
        yield return $"Leaderboard ({result.MetricName}, {result.Validation}; held-out rows not used):";
        yield return $"  {"trial",5}  {"model",-9} {result.MetricName,13}  {"seconds",7}  parameters";
        foreach (var t in result.Leaderboard.Take(top))
            yield return $"  {"#" + t.Number,5}  {t.Family,-9} {Format(t.Metric),13}  {t.Seconds,7:F1}  {t.Describe()}";
        int failed = result.Trials.Count(t => t.Error is not null);
        if (failed > 0)
            yield return $"  ({failed} trial(s) failed, e.g. {result.Trials.First(t => t.Error is not null).Error})";
    }

    private static string Format(double value) => value.ToString("F4", CultureInfo.InvariantCulture);

    /// <summary>One progress line per finished trial; the fraction is the share of the budget used.</summary>
    private sealed class TrialReport(ProgressReport report, TimeSpan budget, Stopwatch clock) : IProgress<ExperimentTrial>
    {
        public void Report(ExperimentTrial t)
            => report(clock.Elapsed / budget,
                $"trial {t.Number} {t.Family}: {(t.Error is null ? $"{t.MetricName} {Format(t.Metric)}" : "failed")} in {t.Seconds:F1} s ({t.Describe()})", true);
    }
}
