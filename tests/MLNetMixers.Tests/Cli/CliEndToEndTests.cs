using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetMixers.Tests.Cli;

/// <summary>
/// The CLI as users run it, as a process, on shared datasets; then the files it wrote are checked with ML.NET,
/// Roslyn and the predict command. Training is time-boxed (--train-time) on one thread to keep the suite short.
/// </summary>
[Collection(CliCollection.Name)]
public sealed class CliEndToEndTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(3);

    [Fact]
    public void Binary_classification_writes_a_model_that_predicts_raw_rows_metrics_and_compiling_consumption_code()
    {
        string output = TestData.NewTempFolder();
        string dataset = TestData.Tabular("weka_diabetes.csv");
        var run = CliProcess.Run(Timeout, "classification", "--dataset", dataset, "--label-col", "class",
            "--train-time", "15s", "--no-search", "--threads", "1", "--seed", "3", "--output", output, "--report-rows", "12");
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("positive class 'tested_positive'", run.Stdout);
        Assert.Contains("LightGBM", run.Stdout);
        // The model report: ROC and precision-recall charts (PNG) of both models, and both confusion matrices.
        string page = File.ReadAllText(Path.Combine(output, "model-report.html"));
        foreach (string chart in new[] { "roc.png", "precision-recall.png" })
        {
            Assert.Contains($"<img src=\"{chart}\"", page);
            Assert.Equal(PngSignature, File.ReadAllBytes(Path.Combine(output, chart)).Take(8));
        }
        Assert.Contains("data-model=\"Mixer\"", page);
        Assert.Contains("data-model=\"LightGBM\"", page);

        // metrics.json: both models, above chance (AUC 0.5) on the held-out rows, and the run's facts.
        using var metrics = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "metrics.json")));
        var root = metrics.RootElement;
        Assert.Equal("binary-classification", root.GetProperty("task").GetString());
        Assert.Equal("tested_positive", root.GetProperty("dataset").GetProperty("positiveClass").GetString());
        Assert.Equal(3, root.GetProperty("seed").GetInt32());
        var split = root.GetProperty("split");
        Assert.Equal(768, split.GetProperty("trainRows").GetInt64() + split.GetProperty("testRows").GetInt64());
        double mixerAuc = root.GetProperty("models").GetProperty("Mixer").GetProperty("AUC").GetDouble();
        double lightGbmAuc = root.GetProperty("models").GetProperty("LightGBM").GetProperty("AUC").GetDouble();
        Assert.True(mixerAuc > 0.7, $"mixer AUC {mixerAuc:F3}\n{run}");
        Assert.True(lightGbmAuc > 0.7, $"LightGBM AUC {lightGbmAuc:F3}");

        // model.zip loads with plain ML.NET and scores raw CSV rows (the label column is not needed).
        var ml = new MLContext(seed: 1);
        var model = ml.Model.Load(Path.Combine(output, "model.zip"), out var inputSchema);
        var rows = LoadAs(ml, dataset, inputSchema);
        var scored = model.Transform(rows);
        var predicted = scored.GetColumn<ReadOnlyMemory<char>>("PredictedClass").Select(p => p.ToString()).ToArray();
        var probabilities = scored.GetColumn<float>("Probability").ToArray();
        var actual = rows.GetColumn<ReadOnlyMemory<char>>("class").Select(p => p.ToString()).ToArray();
        Assert.Equal(768, predicted.Length);
        Assert.All(probabilities, p => Assert.InRange(p, 0f, 1f));
        double accuracy = predicted.Zip(actual).Count(pair => pair.First == pair.Second) / (double)actual.Length;
        Assert.True(accuracy > 0.68, $"accuracy on all rows {accuracy:F3} (majority class: 0.651)");

        // ConsumeModel.cs compiles and its Predict runs on the sample row it carries.
        var assembly = ConsumeModelCompiler.Compile(Path.Combine(output, "ConsumeModel.cs"));
        var prediction = ConsumeModelCompiler.PredictSample(assembly, Path.Combine(output, "model.zip"));
        Assert.Contains(ConsumeModelCompiler.Get<string>(prediction, "PredictedClass"), new[] { "tested_positive", "tested_negative" });
        Assert.InRange(ConsumeModelCompiler.Get<float>(prediction, "Probability"), 0f, 1f);

        // predict: raw rows without the label -> the same predictions, one line per row.
        string unlabeled = Path.Combine(output, "unlabeled.csv");
        File.WriteAllLines(unlabeled, File.ReadAllLines(dataset).Select(line => line[..line.LastIndexOf(',')]));
        string predictions = Path.Combine(output, "predictions.csv");
        var predict = CliProcess.Run(Timeout, "predict", "--model", Path.Combine(output, "model.zip"), "--dataset", unlabeled, "--output", predictions);
        Assert.True(predict.ExitCode == 0, predict.ToString());
        var lines = File.ReadAllLines(predictions);
        Assert.Equal("preg,plas,pres,skin,insu,mass,pedi,age,PredictedClass,PredictedLabel,Probability,Score", lines[0]);
        Assert.Equal(predicted, lines.Skip(1).Select(l => l.Split(',')[8]).ToArray());

        // The attribution report of the training run: one importance row per feature, an HTML page with its charts.
        AssertReport(output, ["preg", "plas", "pres", "skin", "insu", "mass", "pedi", "age"]);

        // explain: the same report from the zip and a labelled CSV; a zip without a mixer is refused by name.
        string reportFolder = Path.Combine(output, "explained");
        var explain = CliProcess.Run(Timeout, "explain", "--model", Path.Combine(output, "model.zip"), "--dataset", dataset,
            "--label-col", "class", "--rows", "8", "--threads", "1", "--output", reportFolder);
        Assert.True(explain.ExitCode == 0, explain.ToString());
        AssertReport(reportFolder, ["preg", "plas", "pres", "skin", "insu", "mass", "pedi", "age"]);
        Assert.Contains("permutation_drop", File.ReadLines(Path.Combine(reportFolder, "field-importance.csv")).First());

        var notMixer = CliProcess.Run(Timeout, "explain", "--model", Path.Combine(output, "baseline-lightgbm.zip"), "--dataset", dataset, "--output", reportFolder);
        Assert.True(notMixer.ExitCode == 1, notMixer.ToString());
        Assert.Contains("baseline-lightgbm.zip' is a LightGBM model (the baseline, or the trees the experiment chose); explain works on mixer models: train with --no-search for one.", notMixer.Stderr);
        Assert.DoesNotContain("CharacterEncodingTransformer", notMixer.Stderr);
    }

    private static readonly byte[] PngSignature = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    private static void AssertReport(string folder, string[] fields)
    {
        var importance = File.ReadAllLines(Path.Combine(folder, "field-importance.csv"));
        Assert.StartsWith("field,rank,mean_abs_attribution", importance[0]);
        Assert.Equal(fields.Order(), importance.Skip(1).Select(l => l.Split(',')[0]).Order());
        string html = File.ReadAllText(Path.Combine(folder, "attribution-report.html"));
        Assert.Contains("<canvas", html);
        Assert.True(new FileInfo(Path.Combine(folder, "character-attributions.csv")).Length > 0);
    }

    [Fact]
    public void Multiclass_classification_reports_per_class_metrics_and_names_the_class()
    {
        string output = TestData.NewTempFolder();
        var run = CliProcess.Run(Timeout, "classification", "-d", TestData.Tabular("penguins.csv"), "-l", "species",
            "--train-time", "12s", "--no-search", "--threads", "1", "-o", output, "--no-report");
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("multiclass classification, 3 classes (Adelie, Chinstrap, Gentoo)", run.Stdout);

        using var metrics = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "metrics.json")));
        var mixer = metrics.RootElement.GetProperty("models").GetProperty("Mixer");
        double micro = mixer.GetProperty("MicroAccuracy").GetDouble();
        Assert.True(micro > 0.7, $"mixer micro accuracy {micro:F3} (majority class: 0.44)\n{run}");
        Assert.Equal(new[] { "Adelie", "Chinstrap", "Gentoo" }, mixer.GetProperty("perClass").EnumerateArray().Select(c => c.GetProperty("class").GetString() ?? "").ToArray());
        // The confusion matrices count every held-out row once, per model.
        string page = File.ReadAllText(Path.Combine(output, "model-report.html"));
        long testRows = metrics.RootElement.GetProperty("split").GetProperty("testRows").GetInt64();
        var tables = System.Text.RegularExpressions.Regex.Matches(page, "<table class=\"confusion\".*?</table>", System.Text.RegularExpressions.RegexOptions.Singleline);
        Assert.Equal(2, tables.Count);
        foreach (System.Text.RegularExpressions.Match table in tables)
        {
            var cells = System.Text.RegularExpressions.Regex.Matches(table.Value, "<td style=[^>]*>(\\d+)</td>");
            Assert.Equal(9, cells.Count);
            Assert.Equal(testRows, cells.Sum(c => long.Parse(c.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)));
        }
        // One-versus-rest curves, as for binary labels.
        foreach (string chart in new[] { "roc.png", "precision-recall.png" })
        {
            Assert.Contains($"<img src=\"{chart}\"", page);
            Assert.Equal(PngSignature, File.ReadAllBytes(Path.Combine(output, chart)).Take(8));
        }

        var assembly = ConsumeModelCompiler.Compile(Path.Combine(output, "ConsumeModel.cs"));
        var prediction = ConsumeModelCompiler.PredictSample(assembly, Path.Combine(output, "model.zip"));
        Assert.Contains(ConsumeModelCompiler.Get<string>(prediction, "PredictedClass"), new[] { "Adelie", "Chinstrap", "Gentoo" });
        var scores = ConsumeModelCompiler.Get<float[]>(prediction, "Score");
        Assert.Equal(3, scores.Length);
        Assert.Equal(1.0, scores.Sum(), 3);
    }

    [Fact]
    public void Regression_with_a_validation_file_and_ignored_column()
    {
        string output = TestData.NewTempFolder();
        var lines = File.ReadAllLines(TestData.Tabular("concrete.csv"));
        string train = Path.Combine(output, "train.csv"), validation = Path.Combine(output, "validation.csv");
        // The file is ordered by mix; every fifth row is held out so both files cover every mix.
        var body = lines.Skip(1).ToArray();
        File.WriteAllLines(train, lines.Take(1).Concat(body.Where((_, i) => i % 5 != 0)));
        File.WriteAllLines(validation, lines.Take(1).Concat(body.Where((_, i) => i % 5 == 0)));

        var run = CliProcess.Run(Timeout, "regression", "-d", train, "--validation-dataset", validation, "-l", "compressive_strength",
            "--ignore-cols", "fly_ash", "--train-time", "15s", "--no-search", "--threads", "1", "-o", output, "--no-report");
        Assert.True(run.ExitCode == 0, run.ToString());

        using var metrics = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "metrics.json")));
        var root = metrics.RootElement;
        Assert.Equal(824, root.GetProperty("split").GetProperty("trainRows").GetInt64());
        Assert.Equal(206, root.GetProperty("split").GetProperty("testRows").GetInt64());
        var roles = root.GetProperty("dataset").GetProperty("columns").EnumerateArray().ToDictionary(c => c.GetProperty("name").GetString()!, c => c.GetProperty("role").GetString());
        Assert.Equal("ignored", roles["fly_ash"]);
        Assert.Equal("label", roles["compressive_strength"]);
        double r2 = root.GetProperty("models").GetProperty("Mixer").GetProperty("RSquared").GetDouble();
        Assert.True(r2 > 0.3, $"mixer R^2 {r2:F3} (predicting the mean: 0)\n{run}");
        string page = File.ReadAllText(Path.Combine(output, "model-report.html"));
        foreach (string chart in new[] { "predicted-vs-actual.png", "residuals.png" })
        {
            Assert.Contains($"<img src=\"{chart}\"", page);
            Assert.Equal(PngSignature, File.ReadAllBytes(Path.Combine(output, chart)).Take(8));
        }
        Assert.DoesNotContain("roc.png", page);

        // The model does not read the ignored column: predict works on rows without it.
        var ml = new MLContext(seed: 1);
        var model = ml.Model.Load(Path.Combine(output, "model.zip"), out var inputSchema);
        var scored = model.Transform(LoadAs(ml, validation, inputSchema));
        Assert.All(scored.GetColumn<float>("Score"), s => Assert.True(float.IsFinite(s)));
        ConsumeModelCompiler.Compile(Path.Combine(output, "ConsumeModel.cs"));
    }

    /// <summary>Loads a CSV with the column types the model was saved with, as ConsumeModel's [LoadColumn] does.</summary>
    private static IDataView LoadAs(MLContext ml, string path, DataViewSchema inputSchema)
    {
        var columns = inputSchema.Select((c, i) => new TextLoader.Column(c.Name, c.Type is TextDataViewType ? DataKind.String : DataKind.Single, i)).ToArray();
        return ml.Data.LoadFromTextFile(path, new TextLoader.Options { Columns = columns, HasHeader = true, Separators = [','], AllowQuoting = true });
    }
}
