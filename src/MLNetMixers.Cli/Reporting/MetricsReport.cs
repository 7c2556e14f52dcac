using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using MLNetMixers.Cli.Training;
using Spectre.Console;

namespace MLNetMixers.Cli.Reporting;

/// <summary>Everything about one training run that metrics.json records.</summary>
internal sealed class RunSummary
{
    public required TrainSettings Settings { get; init; }
    public required Data.CsvSchema Schema { get; init; }
    public required LabelSpec Label { get; init; }
    public required IReadOnlyList<string> FeatureColumns { get; init; }
    public required long TrainRows { get; init; }
    public required long TestRows { get; init; }
    public required DateTime StartedUtc { get; init; }
    public required IReadOnlyList<ModelMetrics> Models { get; init; }
    public required IReadOnlyDictionary<string, string> ColumnTypes { get; init; }
    public double ElapsedSeconds { get; set; }
    public string? Device { get; init; }
    public int? EpochsRun { get; init; }
    public double? ProbedRowsPerSecond { get; init; }
    public MixerExperimentResult? Experiment { get; init; }
}

/// <summary>Writes metrics.json and prints the side-by-side table.</summary>
internal static class MetricsReport
{
    public static void WriteJson(RunSummary run, string path)
    {
        var s = run.Settings;
        var root = new JsonObject
        {
            ["tool"] = "mlnet-mixers",
            ["task"] = run.Label.Kind switch { LearningTask.Binary => "binary-classification", LearningTask.Multiclass => "multiclass-classification", _ => "regression" },
            ["startedUtc"] = run.StartedUtc.ToString("O", CultureInfo.InvariantCulture),
            ["elapsedSeconds"] = Math.Round(run.ElapsedSeconds, 2),
            ["seed"] = s.Seed,
            ["device"] = run.Device,
            ["precision"] = CliApp.PrecisionName(s.Precision),
            ["dataset"] = new JsonObject
            {
                ["path"] = Path.GetFullPath(s.Dataset),
                ["rows"] = run.Schema.RowCount,
                ["separator"] = run.Schema.SeparatorName,
                ["hasHeader"] = run.Schema.HasHeader,
                ["columns"] = new JsonArray([.. run.Schema.Columns.Select(c => (JsonNode)new JsonObject
                {
                    ["name"] = c.Name,
                    ["type"] = run.ColumnTypes.GetValueOrDefault(c.Name),
                    ["role"] = c.Name == run.Label.RawColumn ? "label" : run.FeatureColumns.Contains(c.Name) ? "feature" : "ignored",
                    ["missing"] = c.MissingCount,
                })]),
                ["label"] = run.Label.RawColumn,
                ["missingLabelRowsDropped"] = run.Label.MissingLabelRows,
                ["classes"] = run.Label.Kind == LearningTask.Regression ? null : new JsonArray([.. run.Label.Classes.Select(c => (JsonNode)JsonValue.Create(c)!)]),
                ["positiveClass"] = run.Label.PositiveClass,
            },
            ["split"] = new JsonObject
            {
                ["validationDataset"] = s.ValidationDataset is null ? null : Path.GetFullPath(s.ValidationDataset),
                ["testFraction"] = s.ValidationDataset is null ? s.Split : null,
                ["trainRows"] = run.TrainRows,
                ["testRows"] = run.TestRows,
            },
            ["training"] = new JsonObject
            {
                ["epochsRequested"] = s.Epochs,
                ["epochsPlanned"] = run.EpochsRun,
                ["trainTimeSeconds"] = s.TrainTime?.TotalSeconds ?? (s.Epochs is null ? MixerStep.DefaultTrainTime.TotalSeconds : null),
                ["probedRowsPerSecond"] = run.ProbedRowsPerSecond is { } r ? Math.Round(r, 1) : null,
                ["threads"] = s.Threads,
            },
            ["models"] = new JsonObject([.. run.Models.Select(m => new KeyValuePair<string, JsonNode?>(m.Model, ModelNode(m)))]),
            ["experiment"] = run.Experiment is { } experimentResult ? ExperimentNode(experimentResult) : null,
        };
        File.WriteAllText(path, root.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>The experiment's choice and its leaderboard (cross-validated inside the training rows), best first.</summary>
    private static JsonObject ExperimentNode(MixerExperimentResult e) => new()
    {
        ["chosen"] = e.Chosen.ToString(),
        ["metric"] = e.MetricName,
        ["validation"] = e.Validation,
        ["refitted"] = e.Refitted,
        ["cancelled"] = e.Cancelled,
        ["leaderboard"] = new JsonArray([.. e.Leaderboard.Concat(e.Trials.Where(t => t.Error is not null)).Select(t => (JsonNode)new JsonObject
        {
            ["trial"] = t.Number,
            ["family"] = t.Family.ToString(),
            ["parameters"] = new JsonObject([.. t.Parameters.Select(p => new KeyValuePair<string, JsonNode?>(p.Key, p.Value))]),
            ["cvMetric"] = Finite(t.Metric),
            ["seconds"] = Math.Round(t.Seconds, 2),
            ["error"] = t.Error,
        })]),
    };

    private static JsonObject ModelNode(ModelMetrics m)
    {
        var node = new JsonObject { ["trainingSeconds"] = Math.Round(m.TrainingSeconds, 2) };
        foreach (var (name, value) in m.Values)
            node[name] = Finite(value);
        if (m.PerClass.Count > 0)
        {
            node["perClass"] = new JsonArray([.. m.PerClass.Select(c => (JsonNode)new JsonObject
            {
                ["class"] = c.Class,
                ["precision"] = Finite(c.Precision),
                ["recall"] = Finite(c.Recall),
                ["logLoss"] = Finite(c.LogLoss),
            })]);
        }
        return node;
    }

    // JSON has no NaN: an undefined metric (e.g. precision of a never-predicted class) is null.
    private static JsonNode? Finite(double value) => double.IsFinite(value) ? JsonValue.Create(value) : null;

    public static Table Table(RunSummary run)
    {
        var table = new Table().Border(TableBorder.Rounded).Title($"[bold]Held-out metrics[/] ({run.TestRows} rows)");
        table.AddColumn("Metric");
        foreach (var m in run.Models)
            table.AddColumn(new TableColumn($"[bold]{Markup.Escape(m.Model)}[/]").RightAligned());
        var names = run.Models[0].Values.Select(kv => kv.Key).ToList();
        string headline = ModelMetrics.Headline(run.Label.Kind);
        foreach (string name in names)
        {
            var cells = new List<string> { name == headline ? $"[bold]{name}[/]" : name };
            cells.AddRange(run.Models.Select(m => Format(m[name])));
            table.AddRow(cells.ToArray());
        }
        if (run.Models[0].PerClass.Count > 0)
        {
            for (int i = 0; i < run.Models[0].PerClass.Count; i++)
            {
                string cls = Markup.Escape(run.Models[0].PerClass[i].Class);
                table.AddRow(new[] { $"{cls}: precision" }.Concat(run.Models.Select(m => Format(m.PerClass[i].Precision))).ToArray());
                table.AddRow(new[] { $"{cls}: recall" }.Concat(run.Models.Select(m => Format(m.PerClass[i].Recall))).ToArray());
            }
        }
        table.AddRow(new[] { "[grey]training time (s)[/]" }.Concat(run.Models.Select(m => m.TrainingSeconds.ToString("F1", CultureInfo.InvariantCulture))).ToArray());
        return table;
    }

    private static string Format(double? value) => value is { } v && double.IsFinite(v) ? v.ToString("F4", CultureInfo.InvariantCulture) : "-";
}
