using System.Text.Json;
using Microsoft.ML;

namespace MLNetMixers.Tests.Cli;

/// <summary>
/// The default classification run spends --train-time on the experiment: trials printed as they finish, the
/// leaderboard in metrics.json, and a model.zip (mixer, trees or ensemble) that predict takes.
/// </summary>
[Collection(CliCollection.Name)]
public sealed class CliExperimentTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(3);

    [Fact]
    public void Default_run_searches_prints_the_leaderboard_and_writes_it_to_metrics_json()
    {
        string output = TestData.NewTempFolder();
        string dataset = TestData.Tabular("weka_breast-cancer.csv");
        var run = CliProcess.Run(Timeout, "classification", "-d", dataset, "-l", "Class", "--train-time", "12s", "--threads", "1",
            "--no-baseline", "--no-report", "-o", output);
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("trial 1 LightGbm", run.Stdout);
        Assert.Contains("trial 2 Mixer", run.Stdout);
        Assert.Contains("Leaderboard (AUC, 3-fold cross-validation", run.Stdout);

        using var metrics = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "metrics.json")));
        var experiment = metrics.RootElement.GetProperty("experiment");
        string chosen = experiment.GetProperty("chosen").GetString()!;
        Assert.Contains(chosen, new[] { "Mixer", "LightGbm", "Ensemble" });
        Assert.Equal("AUC", experiment.GetProperty("metric").GetString());
        var board = experiment.GetProperty("leaderboard").EnumerateArray().ToList();
        Assert.Contains(board, t => t.GetProperty("family").GetString() == "Mixer");
        Assert.Contains(board, t => t.GetProperty("family").GetString() == "LightGbm");
        var scores = board.Where(t => t.GetProperty("cvMetric").ValueKind == JsonValueKind.Number).Select(t => t.GetProperty("cvMetric").GetDouble()).ToList();
        Assert.Equal(scores.OrderByDescending(x => x), scores);
        Assert.All(board.Where(t => t.GetProperty("family").GetString() == "LightGbm"),
            t => Assert.True(t.GetProperty("parameters").TryGetProperty("Leaves", out _), t.ToString()));
        // The chosen model is what was evaluated on the held-out rows.
        var models = metrics.RootElement.GetProperty("models");
        string name = chosen switch { "Mixer" => "Mixer", "LightGbm" => "LightGBM (tuned)", _ => "Ensemble" };
        Assert.True(models.GetProperty(name).GetProperty("AUC").GetDouble() > 0.55, run.ToString());

        // predict takes the chosen model.zip whatever it holds.
        string unlabeled = Path.Combine(output, "unlabeled.csv");
        var lines = File.ReadAllLines(dataset);
        int labelIndex = Array.IndexOf(lines[0].Split(','), "Class");
        File.WriteAllLines(unlabeled, lines.Select(l => string.Join(',', l.Split(',').Where((_, i) => i != labelIndex))));
        string predictions = Path.Combine(output, "predictions.csv");
        var predict = CliProcess.Run(Timeout, "predict", "--model", Path.Combine(output, "model.zip"), "--dataset", unlabeled, "--output", predictions);
        Assert.True(predict.ExitCode == 0, predict.ToString());
        Assert.Equal(lines.Length, File.ReadAllLines(predictions).Length);

        // explain takes a mixer and refuses the others with one sentence.
        var explain = CliProcess.Run(Timeout, "explain", "--model", Path.Combine(output, "model.zip"), "--dataset", dataset, "--label-col", "Class",
            "--rows", "4", "--threads", "1", "--output", Path.Combine(output, "explained"));
        if (chosen == "Mixer")
            Assert.True(explain.ExitCode == 0, explain.ToString());
        else
            Assert.Contains("train with --no-search", explain.Stderr);
    }
    private sealed class BagRow
    {
        public float X { get; set; }
        public bool Label { get; set; }
    }

    [Fact]
    public void Explain_refuses_a_mixer_averaged_over_its_folds_with_one_sentence()
    {
        // A library user's experiment with AverageMixerFoldModels: its zip holds three mixer networks and their average.
        var ml = new MLContext(1);
        var data = ml.Data.LoadFromEnumerable(Enumerable.Range(0, 60).Select(i => new BagRow { X = i % 7, Label = i % 7 > 3 }));
        var options = new MixerExperimentOptions
        {
            FeatureColumnNames = ["X"],
            SearchTrees = false,
            AverageMixerFoldModels = true,
            MaxExperimentTime = TimeSpan.FromSeconds(5),
            NumberOfThreads = 1,
            Seed = 1,
            AdjustMixer = o =>
            {
                o.Width = 8;
                o.Depth = 1;
                o.Epochs = 1;
            },
        };
        var result = ml.BinaryClassification.MixerExperiment(options).Execute(data);
        Assert.Equal(3, result.MixerModels);
        string zip = Path.Combine(TestData.NewTempFolder(), "bag.zip");
        ml.Model.Save(result.Model, data.Schema, zip);

        var explain = CliProcess.Run(Timeout, "explain", "--model", zip, "--dataset", TestData.Tabular("weka_breast-cancer.csv"),
            "--output", Path.Combine(TestData.NewTempFolder(), "explained"));
        Assert.NotEqual(0, explain.ExitCode);
        Assert.Contains("averages 3 mixer networks", explain.Stderr);
        Assert.Contains("train with --no-search", explain.Stderr);
        Assert.DoesNotContain("Exception", explain.Stderr);
    }
}
