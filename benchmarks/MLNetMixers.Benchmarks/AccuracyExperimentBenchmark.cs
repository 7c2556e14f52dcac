using System.Diagnostics;
using Microsoft.ML;
using MLNetMixers.Experiment;
using static MLNetMixers.Benchmarks.AccuracyBenchmark;

namespace MLNetMixers.Benchmarks;

/// <summary>
/// Issue 29's evidence: on the accuracy benchmark's tables and 3-fold splits (seed 1 unless MLNETMIXERS_EXPERIMENT_SEED), the experiment
/// (<see cref="MixerExperiment"/>) run on each training fold with a fixed budget, against LightGBM with ML.NET's
/// defaults. From one experiment per fold, with the experiment's defaults, come: its best mixer and its best LightGBM
/// (each refitted on the whole training fold), both tuned by the same search in the same budget, their weighted average
/// (the ensemble), the same mixer trial's fold networks averaged and half-and-half with its refit (alone and in the
/// ensemble), and the model the experiment
/// chose by cross-validation inside the training fold. The test fold is never seen by the search.
/// Targets: the mixer level with tuned LightGBM on 10 of 14 tables, the ensemble ahead of both on 11.
/// </summary>
internal sealed class AccuracyExperimentBenchmark : IBenchmark
{
    public string Name => "AccuracyExperiment";

    private const int Folds = 3;

    /// <summary>MLNETMIXERS_EXPERIMENT_BUDGET: seconds of experiment per training fold (default 120, the CLI's default --train-time).</summary>
    private static TimeSpan Budget(bool smoke)
        => smoke ? TimeSpan.FromSeconds(6)
            : TimeSpan.FromSeconds(double.TryParse(Environment.GetEnvironmentVariable("MLNETMIXERS_EXPERIMENT_BUDGET"), System.Globalization.CultureInfo.InvariantCulture, out double s) && s > 0 ? s : 120);

    /// <summary>MLNETMIXERS_EXPERIMENT_SEED: the folds' and the experiments' seed (default 1, the Accuracy section's folds); another seed tells how stable the counts are.</summary>
    private static int Seed()
        => int.TryParse(Environment.GetEnvironmentVariable("MLNETMIXERS_EXPERIMENT_SEED"), out int s) && s > 0 ? s : 1;

    public void Run(BenchmarkContext context)
    {
        // MLNETMIXERS_ACCURACY_DATASETS=penguins,concrete limits a run to some tables, as for the Accuracy section.
        var only = Environment.GetEnvironmentVariable("MLNETMIXERS_ACCURACY_DATASETS")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var datasets = context.Smoke
            ? All.Where(d => d.File is "penguins.csv").ToArray()
            : only is { Length: > 0 } ? All.Where(d => only.Contains(Path.GetFileNameWithoutExtension(d.File))).ToArray() : All;
        int folds = context.Smoke ? 2 : Folds;
        var budget = Budget(context.Smoke);
        int seed = Seed();
        context.Log.WriteLine($"   expected ~{datasets.Length * folds * (budget.TotalSeconds * 1.2 + 5) / 60:F0} min: {datasets.Length} datasets x {folds} folds x {budget.TotalSeconds} s");
        var rows = new List<IReadOnlyList<string>>();
        foreach (var dataset in datasets)
        {
            var watch = Stopwatch.StartNew();
            var result = RunDataset(context, dataset, folds, budget, seed);
            rows.Add(result);
            context.Log.WriteLine($"   {dataset.File}: {string.Join(" | ", result)} ({watch.Elapsed.TotalSeconds:F0} s)");
        }
        context.Report.Note($"{folds}-fold cross-validation, seed {seed}{(seed == 1 ? ", the Accuracy section's folds" : " (MLNETMIXERS_EXPERIMENT_SEED; seed 1 gives the Accuracy section's folds)")}; mean ± standard deviation over folds, in points (x100): AUC (binary), "
            + "macro accuracy (multiclass), R² (regression). On each training fold, one MixerExperiment with its default options and a budget of "
            + $"{budget.TotalSeconds:F0} s (MLNETMIXERS_EXPERIMENT_BUDGET), scoring its trials by 3-fold cross-validation inside the training fold; the mixer "
            + "and LightGBM share that budget (the family that has used less time runs next). Tuned LightGBM: the trees' best trial refitted on the training fold; "
            + "Mixer: the mixer's best trial refitted on the training fold (the experiment's final mixer); Ensemble: that mixer's prediction averaged with the equal average of the top 5 tree trials "
            + "(EnsembleTreeTrials; each refitted), the mixer's weight (per fold) chosen on the experiment's nested out-of-fold rows. From the same trial, for comparison: "
            + "Mixer, fold average: the average of its 3 cross-validation networks (AverageMixerFoldModels); Mixer, refit + folds: half the refit, half that fold average; "
            + "each alone and in the ensemble in the refit's place with the same trees and weight. Each ensemble's gap is to the better of tuned LightGBM and its own mixer. "
            + "Choice: the model the experiment picked (mixer, trees or ensemble, by its cross-validated metric), with the picks per fold (M/L/E). "
            + "LightGBM default: ML.NET's defaults, the Accuracy section's baseline. "
            + $"Refresh with `MLNETMIXERS_EXPERIMENT_BUDGET=120 {BenchmarkRunner.BaseCommand} -- --only {Name}`.");
        context.Report.Table(["dataset", "task", "rows", "LightGBM default", "LightGBM tuned", "Mixer", "Mixer, fold average", "Mixer, refit + folds",
            "Ensemble", "Ensemble, fold average", "Ensemble, refit + folds", "Choice", "picks",
            "Mixer - tuned LightGBM", "Fold average - tuned LightGBM", "Refit + folds - tuned LightGBM",
            "Ensemble - best of both", "Ensemble, fold average - best of both", "Ensemble, refit + folds - best of both", "mixer weights", "trials (mixer/trees)"], rows);
    }

    private static IReadOnlyList<string> RunDataset(BenchmarkContext context, Dataset dataset, int folds, TimeSpan budget, int seed)
    {
        var ml = new MLContext(seed: seed);
        var raw = RealBatches.LoadCsv(ml, Path.Combine(context.DatasetsFolder, "tabular", dataset.File));
        if (context.Smoke)
            raw = ml.Data.TakeRows(ml.Data.ShuffleRows(raw, seed: 1), 90);
        var features = raw.Schema.Where(c => c.Name != dataset.Label && !c.IsHidden).ToArray();
        var data = ml.Data.Cache(PrepareLabel(ml, raw, dataset));
        long rowCount = data.GetRowCount() ?? data.Preview(int.MaxValue).RowView.Length;
        var task = dataset.Kind switch
        {
            Kind.Binary => MixerTask.BinaryClassification,
            Kind.Multiclass => MixerTask.MulticlassClassification,
            _ => MixerTask.Regression,
        };

        var lightGbm = new List<double[]>();
        var tuned = new List<double[]>();
        var mixer = new List<double[]>();
        var foldAverage = new List<double[]>();
        var refitAndFolds = new List<double[]>();
        var ensemble = new List<double[]>();
        var foldEnsemble = new List<double[]>();
        var refitAndFoldsEnsemble = new List<double[]>();
        var choice = new List<double[]>();
        var picks = new List<string>();
        var weights = new List<string>();
        var trials = new List<(int Mixer, int Trees)>();
        foreach (var split in ml.Data.CrossValidationSplit(data, folds, seed: seed))
        {
            lightGbm.Add(Evaluate(ml, dataset.Kind, TreePipeline(ml, features, dataset.Kind, lightGbm: true, context.Smoke).Fit(split.TrainSet).Transform(split.TestSet)));
            var options = new MixerExperimentOptions
            {
                FeatureColumnNames = features.Select(c => c.Name).ToArray(),
                MaxExperimentTime = budget,
                Seed = seed,
                // The experiment's defaults; the benchmark also keeps each family's best and the mixer's fold networks.
                KeepFamilyModels = true,
                AdjustMixer = context.Smoke ? o => { o.Width = 8; o.Depth = 1; o.Epochs = 1; } : null,
            };
            var experiment = task switch
            {
                MixerTask.BinaryClassification => ml.BinaryClassification.MixerExperiment(options),
                MixerTask.MulticlassClassification => ml.MulticlassClassification.MixerExperiment(options),
                _ => ml.Regression.MixerExperiment(options),
            };
            var result = experiment.Execute(split.TrainSet);
            var models = result.FamilyModels!;
            double[] Score(ITransformer? model) => model is null ? [double.NaN, double.NaN] : Evaluate(ml, dataset.Kind, model.Transform(split.TestSet));
            string weight = result.Trials.FirstOrDefault(t => t.Family == ExperimentFamily.Ensemble)?.Parameters.GetValueOrDefault("MixerWeight") ?? "-";
            double w = weight == "-" ? double.NaN : double.Parse(weight, System.Globalization.CultureInfo.InvariantCulture);
            var refit = models.GetValueOrDefault(ExperimentFamily.Mixer);
            var trees = result.EnsembleTreeModels;
            var networks = result.MixerFoldModels;
            tuned.Add(Score(models.GetValueOrDefault(ExperimentFamily.LightGbm)));
            mixer.Add(Score(refit));
            ensemble.Add(Score(models.GetValueOrDefault(ExperimentFamily.Ensemble)));
            // The same trial's other final models: its k cross-validation networks averaged, and those beside the refit
            // (half the refit, half the fold average), alone and in the ensemble with the same trees and weight.
            ITransformer? Mixers(bool withRefit, bool withTrees)
            {
                if (networks is null || refit is null || withTrees && (trees is null || double.IsNaN(w)))
                    return null;
                var members = withRefit ? networks.Prepend(refit).ToArray() : networks.ToArray();
                double[]? shares = withRefit ? networks.Select(_ => 0.5 / networks.Count).Prepend(0.5).ToArray() : null;
                return experiment.Compose(members, withTrees ? trees! : [], split.TrainSet, withTrees ? w : 1, shares);
            }
            foldAverage.Add(Score(Mixers(withRefit: false, withTrees: false)));
            refitAndFolds.Add(Score(Mixers(withRefit: true, withTrees: false)));
            foldEnsemble.Add(Score(Mixers(withRefit: false, withTrees: true)));
            refitAndFoldsEnsemble.Add(Score(Mixers(withRefit: true, withTrees: true)));
            choice.Add(Score(result.Model));
            weights.Add(weight);
            picks.Add(result.Chosen switch { ExperimentFamily.Mixer => "M", ExperimentFamily.LightGbm => "L", _ => "E" });
            trials.Add((result.Trials.Count(t => t.Family == ExperimentFamily.Mixer), result.Trials.Count(t => t.Family == ExperimentFamily.LightGbm)));
            foreach (var fitted in models.Values.Concat(networks ?? []).Distinct())
                (fitted as IDisposable)?.Dispose();
        }
        double tunedMean = Mean(tuned, 0);
        string Gap(List<double[]> model) => Signed(Mean(model, 0) - tunedMean);
        // Each ensemble against the better of tuned LightGBM and its own mixer.
        string AheadOfBoth(List<double[]> ensembleFolds, List<double[]> mixerFolds) => Signed(Mean(ensembleFolds, 0) - Math.Max(Mean(mixerFolds, 0), tunedMean));
        return
        [
            dataset.File.Replace(".csv", ""), dataset.Kind.ToString(), rowCount.ToString(),
            Primary(lightGbm), Primary(tuned), Primary(mixer), Primary(foldAverage), Primary(refitAndFolds),
            Primary(ensemble), Primary(foldEnsemble), Primary(refitAndFoldsEnsemble), Primary(choice), string.Join("", picks),
            Gap(mixer), Gap(foldAverage), Gap(refitAndFolds),
            AheadOfBoth(ensemble, mixer), AheadOfBoth(foldEnsemble, foldAverage), AheadOfBoth(refitAndFoldsEnsemble, refitAndFolds),
            string.Join(" ", weights), $"{trials.Average(t => t.Mixer):F1}/{trials.Average(t => t.Trees):F1}",
        ];
    }

    private static string Primary(List<double[]> folds) => Format(folds.Select(f => new[] { f[0], 0 }).ToList());

    private static string Signed(double gap) => double.IsNaN(gap) ? "-" : $"{Math.Round(gap, 1) + 0.0:+0.0;-0.0;0.0}";
}
