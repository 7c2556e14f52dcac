using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetMixers.Experiment;

namespace MLNetMixers.Tests.Experiment;

/// <summary>
/// The experiment on tiny synthetic tables with a tiny mixer (width 8, one block, 2 epochs, one thread), so each test
/// takes seconds: what the held-out rows are kept from, the ensemble's zip, and cancellation.
/// </summary>
public class MixerExperimentTests
{
    private sealed class Row
    {
        public float RowId { get; set; }
        public float X1 { get; set; }
        public float X2 { get; set; }
        public string Colour { get; set; } = "";
        public bool Flag { get; set; }
        public string Class { get; set; } = "";
        public float Target { get; set; }
    }

    private static readonly string[] Features = ["X1", "X2", "Colour"];

    /// <summary>Rows whose label follows X1, X2 and Colour with some noise, so every family finds a signal.</summary>
    private static List<Row> Rows(int count, int seed = 7)
    {
        var random = new Random(seed);
        string[] colours = ["red", "green", "blue"];
        return Enumerable.Range(0, count).Select(i =>
        {
            float x1 = (float)(random.NextDouble() * 4 - 2), x2 = (float)(random.NextDouble() * 4 - 2);
            int c = random.Next(3);
            double signal = x1 + 0.5 * x2 + (c == 0 ? 1 : 0) + 0.5 * (random.NextDouble() - 0.5);
            return new Row
            {
                RowId = i, X1 = x1, X2 = x2, Colour = colours[c], Flag = signal > 0,
                Class = signal < -0.7 ? "low" : signal < 0.7 ? "mid" : "high", Target = (float)(3 * signal + 10),
            };
        }).ToList();
    }

    /// <summary>The rows with the task's Label column: Flag (Boolean), Class as a key, or Target.</summary>
    private static IDataView Labelled(MLContext ml, IEnumerable<Row> rows, MixerTask task)
    {
        var data = ml.Data.LoadFromEnumerable(rows);
        var prepare = task switch
        {
            MixerTask.BinaryClassification => (IEstimator<ITransformer>)ml.Transforms.CopyColumns("Label", nameof(Row.Flag)),
            MixerTask.MulticlassClassification => ml.Transforms.Conversion.MapValueToKey("Label", nameof(Row.Class)),
            _ => ml.Transforms.CopyColumns("Label", nameof(Row.Target)),
        };
        return prepare.Fit(data).Transform(data);
    }

    private static MixerExperimentOptions Options(TimeSpan budget) => new()
    {
        FeatureColumnNames = Features,
        MaxExperimentTime = budget,
        NumberOfThreads = 1,
        Seed = 1,
        AdjustMixer = o =>
        {
            o.Width = 8;
            o.Depth = 1;
            o.Epochs = Math.Min(o.Epochs, 2);
        },
    };

    private static MixerExperiment Experiment(MLContext ml, MixerTask task, MixerExperimentOptions options) => task switch
    {
        MixerTask.BinaryClassification => ml.BinaryClassification.MixerExperiment(options),
        MixerTask.MulticlassClassification => ml.MulticlassClassification.MixerExperiment(options),
        _ => ml.Regression.MixerExperiment(options),
    };

    private static HashSet<float> Ids(IDataView view) => [.. view.GetColumn<float>(nameof(Row.RowId))];

    [Fact]
    public void No_trial_ever_sees_the_held_out_rows()
    {
        var ml = new MLContext(1);
        var all = Rows(200);
        var heldOut = all.Where(r => r.RowId % 5 == 0).Select(r => r.RowId).ToHashSet();
        var train = Labelled(ml, all.Where(r => !heldOut.Contains(r.RowId)), MixerTask.BinaryClassification);
        var trainIds = Ids(train);
        var fits = new List<(ExperimentFamily Family, HashSet<float> Fit, HashSet<float>? Scored)>();
        var options = Options(TimeSpan.FromSeconds(20));
        options.ObserveFit = (family, fit, scored) => fits.Add((family, Ids(fit), scored is null ? null : Ids(scored)));

        var result = ml.BinaryClassification.MixerExperiment(options).Execute(train);

        Assert.Contains(fits, f => f.Family == ExperimentFamily.Mixer);
        Assert.Contains(fits, f => f.Family == ExperimentFamily.LightGbm);
        foreach (var (family, fit, scored) in fits)
        {
            Assert.Empty(fit.Intersect(heldOut));
            Assert.Subset(trainIds, fit);
            if (scored is null)
                continue;
            // A fold is scored on rows its fit did not see, and the folds cover the training rows.
            Assert.Empty(scored.Intersect(heldOut));
            Assert.Empty(fit.Intersect(scored));
            Assert.Equal(trainIds.Count, fit.Count + scored.Count);
        }
        Assert.NotEmpty(result.Leaderboard);
        Assert.All(result.Trials.Where(t => t.Family != ExperimentFamily.Ensemble), t => Assert.True(t.Seconds > 0));
    }

    [Theory]
    [InlineData(MixerTask.BinaryClassification)]
    [InlineData(MixerTask.MulticlassClassification)]
    [InlineData(MixerTask.Regression)]
    public void Ensemble_zip_loads_and_scores_like_its_members_averaged(MixerTask task)
    {
        const float mixerWeight = 0.3f;
        var ml = new MLContext(1);
        // One labelling for both parts, so that the multiclass key values agree.
        var all = Labelled(ml, Rows(200), task);
        var train = ml.Data.FilterRowsByColumn(all, nameof(Row.RowId), upperBound: 160);
        var test = ml.Data.FilterRowsByColumn(all, nameof(Row.RowId), lowerBound: 160);
        var experiment = Experiment(ml, task, Options(TimeSpan.FromSeconds(30)));
        var mixer = experiment.FitDefaults(ExperimentFamily.Mixer, train);
        var trees = experiment.FitDefaults(ExperimentFamily.LightGbm, train);
        var ensemble = experiment.Compose(mixer, trees, train, mixerWeight);

        string path = Path.Combine(TestData.NewTempFolder(), "ensemble.zip");
        ml.Model.Save(ensemble, train.Schema, path);
        var loaded = new MLContext(2).Model.Load(path, out _);
        var scored = loaded.Transform(test);
        // A cursor over an input column alone (as a report reading the label does) passes through the average.
        Assert.Equal(test.GetColumn<float>(nameof(Row.RowId)), scored.GetColumn<float>(nameof(Row.RowId)));

        string member = task == MixerTask.BinaryClassification ? "Probability" : "Score";
        if (task == MixerTask.MulticlassClassification)
        {
            var m = mixer.Transform(test).GetColumn<VBuffer<float>>(member).Select(v => v.DenseValues().ToArray()).ToList();
            var t = trees.Transform(test).GetColumn<VBuffer<float>>(member).Select(v => v.DenseValues().ToArray()).ToList();
            var e = scored.GetColumn<VBuffer<float>>("Score").Select(v => v.DenseValues().ToArray()).ToList();
            var predicted = scored.GetColumn<uint>("PredictedLabel").ToList();
            for (int r = 0; r < e.Count; r++)
            {
                for (int k = 0; k < e[r].Length; k++)
                    Assert.Equal(mixerWeight * m[r][k] + (1 - mixerWeight) * t[r][k], e[r][k], 1e-5);
                Assert.Equal((uint)Array.IndexOf(e[r], e[r].Max()) + 1, predicted[r]);
            }
            var metrics = ml.MulticlassClassification.Evaluate(scored);
            Assert.True(metrics.MacroAccuracy > 0.5, $"macro accuracy {metrics.MacroAccuracy:F3}");
        }
        else
        {
            var m = mixer.Transform(test).GetColumn<float>(member).ToList();
            var t = trees.Transform(test).GetColumn<float>(member).ToList();
            var e = scored.GetColumn<float>(member).ToList();
            Assert.Equal(test.GetColumn<float>(nameof(Row.RowId)).Count(), e.Count);
            for (int r = 0; r < e.Count; r++)
                Assert.Equal(mixerWeight * m[r] + (1 - mixerWeight) * t[r], e[r], 1e-4);
            if (task == MixerTask.BinaryClassification)
            {
                var predicted = scored.GetColumn<bool>("PredictedLabel").ToList();
                Assert.All(Enumerable.Range(0, e.Count), r => Assert.Equal(e[r] > 0.5f, predicted[r]));
                Assert.True(ml.BinaryClassification.Evaluate(scored).AreaUnderRocCurve > 0.7);
            }
            else
            {
                Assert.True(ml.Regression.Evaluate(scored).RSquared > 0.3);
            }
        }

        // Its ONNX scoring zip (the mixer scored by ONNX Runtime; the trees and the average stay managed ML.NET steps)
        // holds no TorchSharp step and predicts what the TorchSharp ensemble predicts.
        string onnxPath = Path.Combine(TestData.NewTempFolder(), "ensemble-onnx.zip");
        var onnx = ml.Model.ConvertToOnnxScoring(ensemble, train.Schema);
        ml.Model.Save(onnx, train.Schema, onnxPath);
        var onnxLoaded = new MLContext(3).Model.Load(onnxPath, out _);
        Assert.DoesNotContain(Steps(onnxLoaded), step => step is MixerPredictionTransformer);
        var want = Scores(scored);
        var got = Scores(onnxLoaded.Transform(test));
        Assert.Equal(want.Count, got.Count);
        for (int r = 0; r < want.Count; r++)
            for (int k = 0; k < want[r].Length; k++)
                Assert.True(Math.Abs(want[r][k] - got[r][k]) <= 1e-4 * Math.Max(1, Math.Abs(want[r][k])), $"row {r}, slot {k}: TorchSharp {want[r][k]}, ONNX Runtime {got[r][k]}");
        (mixer as IDisposable)?.Dispose();
        (loaded as IDisposable)?.Dispose();
        (onnxLoaded as IDisposable)?.Dispose();
    }

    private static IEnumerable<ITransformer> Steps(ITransformer t) => t is IEnumerable<ITransformer> chain ? chain.SelectMany(Steps) : [t];

    /// <summary>Each row's Score: one value (binary, regression) or the class vector (multiclass).</summary>
    private static List<float[]> Scores(IDataView scored)
        => scored.Schema["Score"].Type is VectorDataViewType
            ? scored.GetColumn<VBuffer<float>>("Score").Select(v => v.DenseValues().ToArray()).ToList()
            : scored.GetColumn<float>("Score").Select(v => new[] { v }).ToList();

    private sealed class Input
    {
        public float RowId { get; set; }
        public float X1 { get; set; }
        public float X2 { get; set; }
        public string Colour { get; set; } = "";
        public bool Flag { get; set; }
        public string Class { get; set; } = "";
        public float Target { get; set; }
    }

    private sealed class BinaryOutput
    {
        public float Score { get; set; }
        public float Probability { get; set; }
        public bool PredictedLabel { get; set; }
    }

    [Fact]
    public void Nested_predictions_take_each_fold_from_the_trials_best_on_the_other_folds()
    {
        // Three folds of four rows. "lucky" is exact on the first fold and far off elsewhere; "steady" is close everywhere.
        float[] labels = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
        int[] ends = [4, 8, 12];
        var lucky = labels.Select((l, r) => new[] { r < 4 ? l : -l }).ToArray();
        var steady = labels.Select(l => new[] { l + 0.5f }).ToArray();
        // Ranked on the other folds, steady wins for every fold, the first included, where lucky is exact.
        var nested = OutOfFoldMetric.Nested(MixerTask.Regression, [lucky, steady], ends, labels, top: 1);
        Assert.Equal(steady.Select(p => p[0]), nested.Select(p => p[0]));
        // The top two average both.
        var both = OutOfFoldMetric.Nested(MixerTask.Regression, [lucky, steady], ends, labels, top: 2);
        Assert.Equal(labels.Select((l, r) => (lucky[r][0] + steady[r][0]) / 2), both.Select(p => p[0]));
    }

    [Fact]
    public void Nested_weight_gives_no_credit_to_the_luckiest_of_many_noise_trials()
    {
        const MixerTask binary = MixerTask.BinaryClassification;
        var random = new Random(11);
        var labels = Enumerable.Range(0, 150).Select(_ => (float)random.Next(2)).ToArray();
        int[] ends = [50, 100, 150];
        // The mixer carries a weak real signal; the trees are 300 trials of pure noise, the luckiest of which looks useful
        // on these rows.
        var mixer = labels.Select(l => new[] { (float)(0.3 * l + random.NextDouble()) }).ToArray();
        var noise = Enumerable.Range(0, 300).Select(_ => labels.Select(_ => new[] { (float)random.NextDouble() }).ToArray()).ToList();
        var luckiest = noise.OrderByDescending(p => OutOfFoldMetric.Compute(binary, p, labels)).First();
        Assert.True(OutOfFoldMetric.Compute(binary, luckiest, labels) > 0.6);
        double plain = MixerExperiment.EnsembleWeight(binary, mixer, luckiest, labels).MixerWeight;
        double nested = MixerExperiment.EnsembleWeight(binary, OutOfFoldMetric.Nested(binary, [mixer], ends, labels, 1),
                                                       OutOfFoldMetric.Nested(binary, noise, ends, labels, 1), labels).MixerWeight;
        // On the plain rows the noise draws weight; chosen where it was not selected, it gets the least there is.
        Assert.True(plain < 0.9, $"plain weight {plain}");
        Assert.Equal(0.9, nested, 1e-9);
    }

    [Fact]
    public void Ensemble_weight_leans_towards_the_better_member_on_the_out_of_fold_rows()
    {
        // Regression: the mixer predicts the target exactly, the trees only with noise; and the reverse.
        var random = new Random(3);
        var labels = Enumerable.Range(0, 200).Select(_ => (float)random.NextDouble()).ToArray();
        var exact = labels.Select(l => new[] { l }).ToArray();
        var noisy = labels.Select(l => new[] { l + (float)(random.NextDouble() - 0.5) }).ToArray();
        var (towardsMixer, metric) = MixerExperiment.EnsembleWeight(MixerTask.Regression, exact, noisy, labels);
        Assert.Equal(0.9, towardsMixer, 1e-9);
        Assert.True(metric > OutOfFoldMetric.Compute(MixerTask.Regression, noisy, labels));
        Assert.Equal(0.1, MixerExperiment.EnsembleWeight(MixerTask.Regression, noisy, exact, labels).MixerWeight, 1e-9);
        // Members that rank the rows alike give every weight the same AUC: the tie goes to the equal average.
        var binary = labels.Select(l => l > 0.5f ? 1f : 0f).ToArray();
        Assert.Equal(0.5, MixerExperiment.EnsembleWeight(MixerTask.BinaryClassification, exact, exact, binary).MixerWeight, 1e-9);
    }

    [Fact]
    public void Ensemble_zip_scores_single_rows_through_a_prediction_engine()
    {
        var ml = new MLContext(1);
        var rows = Rows(160);
        var train = Labelled(ml, rows, MixerTask.BinaryClassification);
        var experiment = ml.BinaryClassification.MixerExperiment(Options(TimeSpan.FromSeconds(30)));
        var ensemble = experiment.Compose(experiment.FitDefaults(ExperimentFamily.Mixer, train), experiment.FitDefaults(ExperimentFamily.LightGbm, train), train);
        string path = Path.Combine(TestData.NewTempFolder(), "ensemble.zip");
        ml.Model.Save(ensemble, ml.Data.LoadFromEnumerable(rows).Schema, path);
        var loaded = ml.Model.Load(path, out _);

        var engine = ml.Model.CreatePredictionEngine<Input, BinaryOutput>(loaded);
        var batch = loaded.Transform(ml.Data.LoadFromEnumerable(rows.Take(5))).GetColumn<float>("Probability").ToArray();
        for (int i = 0; i < 5; i++)
        {
            var r = rows[i];
            var one = engine.Predict(new Input { RowId = r.RowId, X1 = r.X1, X2 = r.X2, Colour = r.Colour, Flag = r.Flag, Class = r.Class, Target = r.Target });
            Assert.Equal(batch[i], one.Probability, 1e-5);
            Assert.Equal(one.Probability > 0.5f, one.PredictedLabel);
        }
    }

    /// <summary>Cancels once the first trial of each family has finished: mid-search, with a mixer and a tree model to choose from.</summary>
    private sealed class CancelAfterBothFamilies(CancellationTokenSource source, List<ExperimentTrial> seen) : IProgress<ExperimentTrial>
    {
        public void Report(ExperimentTrial value)
        {
            seen.Add(value);
            if (seen.Any(t => t.Family == ExperimentFamily.Mixer) && seen.Any(t => t.Family == ExperimentFamily.LightGbm))
                source.Cancel();
        }
    }

    [Fact]
    public void Cancellation_mid_experiment_returns_the_best_model_so_far()
    {
        var ml = new MLContext(1);
        var train = Labelled(ml, Rows(160), MixerTask.BinaryClassification);
        var test = Labelled(ml, Rows(40, seed: 9), MixerTask.BinaryClassification);
        using var source = new CancellationTokenSource();
        var seen = new List<ExperimentTrial>();
        var options = Options(TimeSpan.FromMinutes(5));
        options.CancellationToken = source.Token;
        options.Progress = new CancelAfterBothFamilies(source, seen);
        var clock = System.Diagnostics.Stopwatch.StartNew();

        var result = ml.BinaryClassification.MixerExperiment(options).Execute(train);

        Assert.True(clock.Elapsed < TimeSpan.FromMinutes(2), $"took {clock.Elapsed}");
        Assert.True(result.Cancelled);
        Assert.False(result.Refitted);
        // Two trials ran (and the ensemble of the two was scored); the search stopped there with a 5-minute budget left.
        Assert.Equal(2, result.Trials.Count(t => t.Family != ExperimentFamily.Ensemble));
        Assert.Equal(seen.Where(t => !double.IsNaN(t.Metric)).Max(t => t.Metric), result.BestTrial.Metric);
        // The best so far is a working model: it scores rows it never saw.
        var auc = ml.BinaryClassification.Evaluate(result.Model.Transform(test)).AreaUnderRocCurve;
        Assert.True(auc > 0.6, $"AUC {auc:F3}");
    }

    [Fact]
    public void Cancellation_before_any_trial_finishes_throws()
    {
        var ml = new MLContext(1);
        var train = Labelled(ml, Rows(60), MixerTask.BinaryClassification);
        var options = Options(TimeSpan.FromSeconds(30));
        options.CancellationToken = new CancellationToken(canceled: true);
        Assert.Throws<OperationCanceledException>(() => ml.BinaryClassification.MixerExperiment(options).Execute(train));
    }

    [Theory]
    [InlineData(MixerTask.MulticlassClassification)]
    [InlineData(MixerTask.Regression)]
    public void Experiment_spends_its_budget_on_both_families_and_ranks_them(MixerTask task)
    {
        var ml = new MLContext(1);
        var train = Labelled(ml, Rows(150), task);
        var reported = new List<ExperimentTrial>();
        var options = Options(TimeSpan.FromSeconds(30));
        options.Progress = new Collect(reported);
        var clock = System.Diagnostics.Stopwatch.StartNew();

        var result = Experiment(ml, task, options).Execute(train);

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(90), $"a 30 s experiment took {clock.Elapsed}");
        Assert.Equal(result.Trials.Select(t => t.Number), reported.Select(t => t.Number));
        Assert.Contains(result.Trials, t => t.Family == ExperimentFamily.Mixer);
        Assert.Contains(result.Trials, t => t.Family == ExperimentFamily.LightGbm);
        Assert.True(result.Trials.Count(t => t.Family != ExperimentFamily.Ensemble) >= 3, string.Join("\n", result.Trials));
        var board = result.Leaderboard;
        Assert.Equal(board.OrderByDescending(t => t.Metric).Select(t => t.Metric), board.Select(t => t.Metric));
        Assert.Equal(board.First().Metric, result.BestTrial.Metric);
        Assert.Equal(result.MetricName, task == MixerTask.Regression ? "RSquared" : "MacroAccuracy");
        Assert.True(result.BestTrial.Metric > (task == MixerTask.Regression ? 0.3 : 0.5), result.BestTrial.ToString());
    }

    [Fact]
    public void Ensemble_averages_the_mixer_with_the_top_tree_trials()
    {
        var ml = new MLContext(1);
        var all = Labelled(ml, Rows(200), MixerTask.BinaryClassification);
        var train = ml.Data.FilterRowsByColumn(all, nameof(Row.RowId), upperBound: 160);
        var test = ml.Data.FilterRowsByColumn(all, nameof(Row.RowId), lowerBound: 160);
        var options = Options(TimeSpan.FromSeconds(20));
        options.EnsembleTreeTrials = 3;
        options.KeepFamilyModels = true;

        var result = ml.BinaryClassification.MixerExperiment(options).Execute(train);

        // Its trees are three tree trials, the best first, then by their out-of-fold metric (trials that repeat a kept
        // model's predictions are skipped: on 160 rows a minimum of 20 rows per leaf makes the leaf counts alike).
        var ensembleTrial = Assert.Single(result.Trials, t => t.Family == ExperimentFamily.Ensemble);
        var listed = ensembleTrial.Parameters["LightGbm"].Split(' ').Select(n => result.Trials.Single(t => $"#{t.Number}" == n)).ToList();
        Assert.Equal(3, listed.Count);
        Assert.All(listed, t => Assert.Equal(ExperimentFamily.LightGbm, t.Family));
        Assert.Equal(result.Leaderboard.First(t => t.Family == ExperimentFamily.LightGbm).Number, listed[0].Number);
        Assert.Equal(listed.OrderByDescending(t => t.Metric).Select(t => t.Number), listed.Select(t => t.Number));
        var bag = result.EnsembleTreeModels!;
        Assert.Equal(3, bag.Count);
        Assert.Same(result.FamilyModels![ExperimentFamily.LightGbm], bag[0]);

        // It scores as the mixer's weight times its probability plus the rest shared equally by the three trees.
        double weight = double.Parse(ensembleTrial.Parameters["MixerWeight"], System.Globalization.CultureInfo.InvariantCulture);
        var mixer = result.FamilyModels[ExperimentFamily.Mixer].Transform(test).GetColumn<float>("Probability").ToList();
        var trees = bag.Select(t => t.Transform(test).GetColumn<float>("Probability").ToList()).ToList();
        var ensemble = result.FamilyModels[ExperimentFamily.Ensemble].Transform(test).GetColumn<float>("Probability").ToList();
        Assert.Equal(40, ensemble.Count);
        for (int r = 0; r < ensemble.Count; r++)
            Assert.Equal(weight * mixer[r] + (1 - weight) * trees.Average(t => t[r]), ensemble[r], 1e-4);
        Assert.True(trees.Select(t => string.Join(",", t)).Distinct().Count() == 3, "two of the three tree models predict alike\n" + string.Join("\n", result.Leaderboard));
        // Its mixer's attributions alone would misstate what the average predicts: attribution refuses it by name.
        var unexplained = Assert.Throws<ArgumentException>(() => ml.Transforms.ExplainMixer(result.FamilyModels[ExperimentFamily.Ensemble]));
        Assert.Contains("ensemble", unexplained.Message);

        // Saved and loaded, and as an ONNX scoring zip (its mixer in ONNX Runtime, the three trees managed), it predicts the same.
        string folder = TestData.NewTempFolder();
        var model = result.FamilyModels[ExperimentFamily.Ensemble];
        ml.Model.Save(model, train.Schema, Path.Combine(folder, "ensemble.zip"));
        ml.Model.Save(ml.Model.ConvertToOnnxScoring(model, train.Schema), train.Schema, Path.Combine(folder, "ensemble-onnx.zip"));
        foreach (string zip in new[] { "ensemble.zip", "ensemble-onnx.zip" })
        {
            var loaded = new MLContext(2).Model.Load(Path.Combine(folder, zip), out _);
            var again = loaded.Transform(test).GetColumn<float>("Probability").ToList();
            for (int r = 0; r < ensemble.Count; r++)
                Assert.True(Math.Abs(ensemble[r] - again[r]) <= 1e-4, $"{zip}, row {r}: {ensemble[r]} before saving, {again[r]} loaded");
            (loaded as IDisposable)?.Dispose();
        }
    }

    [Theory]
    [InlineData(MixerTask.BinaryClassification)]
    [InlineData(MixerTask.MulticlassClassification)]
    [InlineData(MixerTask.Regression)]
    public void The_mixer_averages_its_fold_networks_and_is_never_refitted(MixerTask task)
    {
        var ml = new MLContext(1);
        var all = Labelled(ml, Rows(200), task);
        var train = ml.Data.FilterRowsByColumn(all, nameof(Row.RowId), upperBound: 160);
        var test = ml.Data.FilterRowsByColumn(all, nameof(Row.RowId), lowerBound: 160);
        var options = Options(TimeSpan.FromSeconds(10));
        options.SearchTrees = false;
        options.AverageMixerFoldModels = true;
        var refits = 0;
        options.ObserveFit = (_, _, scored) => refits += scored is null ? 1 : 0;

        var result = Experiment(ml, task, options).Execute(train);

        Assert.Equal(ExperimentFamily.Mixer, result.Chosen);
        Assert.Equal(3, result.MixerModels);
        Assert.Equal(0, refits);
        // The model is the three fold networks (each with its encoder) and their equal average.
        var members = ((IEnumerable<ITransformer>)result.Model).Where(t => Steps(t).OfType<MixerPredictionTransformer>().Any()).ToList();
        Assert.Equal(3, members.Count);
        Assert.Equal([1 / 3.0, 1 / 3.0, 1 / 3.0], Assert.Single(Steps(result.Model).OfType<AveragedPredictionTransformer>()).Weights);
        string column = task == MixerTask.BinaryClassification ? "Probability" : "Score";
        List<float[]> Predict(ITransformer model) => column == "Probability"
            ? model.Transform(test).GetColumn<float>(column).Select(p => new[] { p }).ToList()
            : Scores(model.Transform(test));
        var each = members.Select(Predict).ToList();
        var average = Predict(result.Model);
        Assert.Equal(40, average.Count);
        for (int r = 0; r < average.Count; r++)
            for (int k = 0; k < average[r].Length; k++)
                Assert.Equal(each.Average(m => m[r][k]), average[r][k], 1e-4);
        // Trained on different folds, the networks differ.
        Assert.Equal(3, each.Select(m => string.Join(",", m.Select(p => string.Join(" ", p)))).Distinct().Count());
        // Given shares (as the benchmark weighs a refit against fold networks), the average follows them.
        var experiment = Experiment(ml, task, options);
        var weighted = Predict(experiment.Compose(members, [], train, 1, [0.5, 0.3, 0.2]));
        for (int r = 0; r < weighted.Count; r++)
            for (int k = 0; k < weighted[r].Length; k++)
                Assert.Equal(0.5 * each[0][r][k] + 0.3 * each[1][r][k] + 0.2 * each[2][r][k], weighted[r][k], 1e-4);
        Assert.Contains("shares", Assert.ThrowsAny<InvalidOperationException>(() => experiment.Compose(members, [], train, 1, [0.5, 0.5])).Message);
        // One ONNX graph cannot hold the three: the raw export says so. The scoring zip converts them all and, saved and
        // loaded, predicts the same.
        var refused = Assert.Throws<ArgumentException>(() => ml.Model.ExportToOnnx(result.Model, Stream.Null));
        Assert.Contains("holds 3 mixer networks", refused.Message);
        // Nor is one network's attribution the average's: attribution refuses it by name.
        var unexplained = Assert.Throws<ArgumentException>(() => ml.Transforms.ExplainMixer(result.Model));
        Assert.Contains("averages 3 mixer networks", unexplained.Message);
        string zip = Path.Combine(TestData.NewTempFolder(), "bag-onnx.zip");
        ml.Model.Save(ml.Model.ConvertToOnnxScoring(result.Model, train.Schema), train.Schema, zip);
        var onnx = new MLContext(2).Model.Load(zip, out _);
        Assert.Equal(3, Steps(onnx).OfType<Microsoft.ML.Transforms.Onnx.OnnxTransformer>().Count());
        Assert.Empty(Steps(onnx).OfType<MixerPredictionTransformer>());
        var again = Predict(onnx);
        for (int r = 0; r < average.Count; r++)
            for (int k = 0; k < average[r].Length; k++)
                Assert.Equal(average[r][k], again[r][k], 1e-4);
        (onnx as IDisposable)?.Dispose();
    }

    [Fact]
    public void By_default_the_mixer_is_refitted_on_every_row()
    {
        var ml = new MLContext(1);
        var train = Labelled(ml, Rows(160), MixerTask.BinaryClassification);
        var options = Options(TimeSpan.FromSeconds(10));
        options.SearchTrees = false;
        Assert.False(options.AverageMixerFoldModels);
        var refitted = new List<long>();
        options.ObserveFit = (_, fit, scored) =>
        {
            if (scored is null)
                refitted.Add(Ids(fit).Count);
        };

        var result = ml.BinaryClassification.MixerExperiment(options).Execute(train);

        Assert.Equal(1, result.MixerModels);
        Assert.True(result.Refitted);
        Assert.Equal([160L], refitted);
        Assert.Single(Steps(result.Model).OfType<MixerPredictionTransformer>());
        Assert.Empty(Steps(result.Model).OfType<AveragedPredictionTransformer>());
    }

    [Fact]
    public void Ensemble_tree_trials_below_one_are_refused()
    {
        var options = Options(TimeSpan.FromSeconds(5));
        options.EnsembleTreeTrials = 0;
        var error = Assert.ThrowsAny<ArgumentException>(() => new MLContext(1).BinaryClassification.MixerExperiment(options));
        Assert.Contains("EnsembleTreeTrials", error.Message);
    }

    [Fact]
    public void A_mixer_too_slow_for_the_budget_leaves_the_trees_their_share()
    {
        var ml = new MLContext(1);
        var train = Labelled(ml, Rows(150), MixerTask.BinaryClassification);
        var options = Options(TimeSpan.FromSeconds(20));
        // Far more epochs than 20 s allow: every mixer fit is stopped by its time cap, as on large tables at one thread.
        options.AdjustMixer = o =>
        {
            o.Width = 8;
            o.Depth = 1;
            o.Epochs = 5000;
        };

        var result = ml.BinaryClassification.MixerExperiment(options).Execute(train);

        var trees = result.Trials.Where(t => t.Family == ExperimentFamily.LightGbm).ToList();
        Assert.Contains(result.Trials, t => t.Family == ExperimentFamily.Mixer && t.Error is null);
        // Before the share, the mixer's first trial and its refit took the whole budget and the trees ran their defaults only.
        Assert.True(trees.Count >= 3, string.Join("\n", result.Trials));
        Assert.True(trees.Sum(t => t.Seconds) >= 0.5 * MixerExperiment.TreesMinimumShare * 20, string.Join("\n", result.Trials));
    }

    private sealed class Collect(List<ExperimentTrial> trials) : IProgress<ExperimentTrial>
    {
        public void Report(ExperimentTrial value) => trials.Add(value);
    }
}
