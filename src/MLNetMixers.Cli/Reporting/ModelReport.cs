using System.Globalization;
using System.Net;
using System.Text;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetMixers.Cli.Training;

namespace MLNetMixers.Cli.Reporting;

/// <summary>
/// model-report.html: the held-out metrics, the charts (<see cref="ModelCharts"/>, PNG files beside the page) and the
/// confusion matrices of the mixer and the LightGBM baseline side by side, as Model Builder shows them.
/// </summary>
internal static class ModelReport
{
    public const string FileName = "model-report.html";
    public const string RocFile = "roc.png", PrecisionRecallFile = "precision-recall.png",
        PredictedVsActualFile = "predicted-vs-actual.png", ResidualsFile = "residuals.png", TrialsFile = "trials.png";

    /// <summary>Every file the report may write (a training run's output folder lists them).</summary>
    public static readonly string[] Files = [FileName, RocFile, PrecisionRecallFile, PredictedVsActualFile, ResidualsFile, TrialsFile];

    /// <param name="folder">The output folder.</param>
    /// <param name="label">The label as the models see it.</param>
    /// <param name="scored">Each model's predictions on the held-out rows.</param>
    /// <param name="metrics">The same models' metrics, in the same order.</param>
    /// <param name="trials">An experiment's (trial, score) pairs to chart, when there was one.</param>
    /// <returns>The HTML file's path.</returns>
    public static string Write(string folder, LabelSpec label, IReadOnlyList<(string Model, IDataView Scored)> scored,
        IReadOnlyList<ModelMetrics> metrics, IReadOnlyList<(int Trial, double Score)>? trials = null)
    {
        var charts = new List<(string File, string Caption)>();
        var confusions = new List<(string Model, long[,] Counts)>();
        switch (label.Kind)
        {
            case LearningTask.Binary:
            {
                var models = scored.Select(s => new ModelCharts.BinaryScores(s.Model,
                    Column<bool>(s.Scored, label.Column), Column<float>(s.Scored, "Probability"))).ToArray();
                ModelCharts.WriteRoc(Path.Combine(folder, RocFile), models);
                ModelCharts.WritePrecisionRecall(Path.Combine(folder, PrecisionRecallFile), models);
                charts.Add((RocFile, "ROC curve: how many positives each model finds (up) for how many false alarms (right)."));
                charts.Add((PrecisionRecallFile, "Precision-recall curve: the share of predicted positives that are right, as more positives are found."));
                foreach (var m in models)
                    confusions.Add((m.Model, Confusion(m.Labels.Select(l => l ? 1 : 0), Column<bool>(scored.First(s => s.Model == m.Model).Scored, "PredictedLabel").Select(p => p ? 1 : 0), 2)));
                break;
            }
            case LearningTask.Multiclass:
            {
                foreach (var (model, view) in scored)
                {
                    confusions.Add((model, Confusion(Column<uint>(view, label.Column).Select(k => (int)k - 1),
                        Column<uint>(view, "PredictedLabel").Select(k => (int)k - 1), label.Classes.Count)));
                }
                // One-versus-rest, micro-averaged: every (row, class) pair is one binary decision scored by that class's probability.
                var models = scored.Select(s => MicroAveraged(s.Model, Column<uint>(s.Scored, label.Column), Column<VBuffer<float>>(s.Scored, "Score"))).ToArray();
                ModelCharts.WriteRoc(Path.Combine(folder, RocFile), models);
                ModelCharts.WritePrecisionRecall(Path.Combine(folder, PrecisionRecallFile), models);
                charts.Add((RocFile, "ROC curve, one class against the rest, every (row, class) pair pooled: how many right classes each model finds (up) for how many false alarms (right)."));
                charts.Add((PrecisionRecallFile, "Precision-recall curve over the same pooled (row, class) pairs."));
                break;
            }
            default:
            {
                var models = scored.Select(s => new ModelCharts.RegressionScores(s.Model, Column<float>(s.Scored, label.Column), Column<float>(s.Scored, "Score"))).ToArray();
                ModelCharts.WritePredictedVsActual(Path.Combine(folder, PredictedVsActualFile), models);
                ModelCharts.WriteResiduals(Path.Combine(folder, ResidualsFile), models);
                charts.Add((PredictedVsActualFile, "Predicted against actual: the closer to the dashed line, the better."));
                charts.Add((ResidualsFile, "Residuals against the prediction: a trend or a funnel is what the model missed."));
                break;
            }
        }
        if (trials is { Count: > 0 })
        {
            ModelCharts.WriteTrials(Path.Combine(folder, TrialsFile), trials, ModelMetrics.Headline(label.Kind));
            charts.Add((TrialsFile, "The experiment's trials and the best score so far."));
        }

        string path = Path.Combine(folder, FileName);
        File.WriteAllText(path, Html(label, metrics, charts, confusions, File.Exists(Path.Combine(folder, "attribution-report.html"))), new UTF8Encoding(false));
        return path;
    }

    private static ModelCharts.BinaryScores MicroAveraged(string model, uint[] keys, VBuffer<float>[] probabilities)
    {
        var labels = new List<bool>();
        var scores = new List<float>();
        for (int row = 0; row < keys.Length; row++)
        {
            var values = probabilities[row].DenseValues().ToArray();
            for (int k = 0; k < values.Length; k++)
            {
                labels.Add(keys[row] == k + 1);
                scores.Add(values[k]);
            }
        }
        return new ModelCharts.BinaryScores(model, labels.ToArray(), scores.ToArray());
    }

    private static T[] Column<T>(IDataView view, string name)
    {
        var column = view.Schema.GetColumnOrNull(name)
            ?? throw new InvalidOperationException($"The scored data has no column '{name}'.");
        return view.GetColumn<T>(column).ToArray();
    }

    /// <summary>Counts [actual, predicted]; rows with an out-of-range class (a missing key) are left out.</summary>
    internal static long[,] Confusion(IEnumerable<int> actual, IEnumerable<int> predicted, int classes)
    {
        var counts = new long[classes, classes];
        foreach (var (a, p) in actual.Zip(predicted))
        {
            if (a >= 0 && a < classes && p >= 0 && p < classes)
                counts[a, p]++;
        }
        return counts;
    }

    private static string Html(LabelSpec label, IReadOnlyList<ModelMetrics> metrics, List<(string File, string Caption)> charts,
        List<(string Model, long[,] Counts)> confusions, bool attribution)
    {
        static string H(string s) => WebUtility.HtmlEncode(s);
        static string F(double? v) => v is { } x && double.IsFinite(x) ? x.ToString("F4", CultureInfo.InvariantCulture) : "-";
        var sb = new StringBuilder();
        sb.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>mlnet-mixers: ").Append(H(label.RawColumn)).Append("</title>\n<style>\n")
          .Append("body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1350px}h1{font-size:1.4em}h2{font-size:1.15em;margin-top:28px}\n")
          .Append("table{border-collapse:collapse;font-size:.9em;margin:6px 24px 6px 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child,th:first-child{text-align:left}\n")
          .Append("figure{display:inline-block;margin:8px 16px 8px 0;vertical-align:top}figcaption{font-size:.85em;color:#555;max-width:640px}.confusions{display:flex;flex-wrap:wrap}\n")
          .Append("</style></head>\n<body>\n<h1>Model report: predicting '").Append(H(label.RawColumn)).Append("'</h1>\n");
        if (attribution)
            sb.Append("<p>Which fields drive the mixer's predictions: <a href=\"attribution-report.html\">attribution report</a>.</p>\n");

        sb.Append("<h2>Held-out metrics</h2>\n<table id=\"metrics\"><tr><th>metric</th>");
        foreach (var m in metrics)
            sb.Append("<th>").Append(H(m.Model)).Append("</th>");
        sb.Append("</tr>\n");
        foreach (string name in metrics.Count == 0 ? [] : metrics[0].Values.Select(v => v.Key))
        {
            sb.Append("<tr><td>").Append(H(name)).Append("</td>");
            foreach (var m in metrics)
                sb.Append("<td>").Append(F(m[name])).Append("</td>");
            sb.Append("</tr>\n");
        }
        sb.Append("</table>\n");

        if (charts.Count > 0)
        {
            sb.Append("<h2>Charts</h2>\n");
            foreach (var (file, caption) in charts)
                sb.Append("<figure><img src=\"").Append(H(file)).Append("\" width=\"").Append(ModelCharts.Width).Append("\" height=\"").Append(ModelCharts.Height)
                  .Append("\" alt=\"").Append(H(caption)).Append("\"><figcaption>").Append(H(caption)).Append("</figcaption></figure>\n");
        }

        if (confusions.Count > 0)
        {
            var classes = label.Classes;   // binary: [negative, positive], the order of the confusion counts
            sb.Append("<h2>Confusion matrices (rows: actual class; columns: predicted class)</h2>\n<div class=\"confusions\">\n");
            foreach (var (model, counts) in confusions)
            {
                long max = counts.Cast<long>().DefaultIfEmpty(0).Max();
                sb.Append("<table class=\"confusion\" data-model=\"").Append(H(model)).Append("\"><caption>").Append(H(model)).Append("</caption><tr><th>actual \\ predicted</th>");
                foreach (string c in classes)
                    sb.Append("<th>").Append(H(c)).Append("</th>");
                sb.Append("<th>recall</th></tr>\n");
                for (int a = 0; a < classes.Count; a++)
                {
                    long rowTotal = 0;
                    sb.Append("<tr><th>").Append(H(classes[a])).Append("</th>");
                    for (int p = 0; p < classes.Count; p++)
                    {
                        long n = counts[a, p];
                        rowTotal += n;
                        // Shade by the share of the largest cell: green on the diagonal (right), red off it (wrong).
                        string rgb = a == p ? "44,160,44" : "214,39,40";
                        double alpha = max > 0 ? Math.Round(0.6 * n / max, 3) : 0;
                        sb.Append("<td style=\"background:rgba(").Append(rgb).Append(',').Append(alpha.ToString(CultureInfo.InvariantCulture)).Append(")\">").Append(n).Append("</td>");
                    }
                    sb.Append("<td>").Append(rowTotal == 0 ? "-" : (counts[a, a] / (double)rowTotal).ToString("P1", CultureInfo.InvariantCulture)).Append("</td></tr>\n");
                }
                sb.Append("</table>\n");
            }
            sb.Append("</div>\n");
        }
        sb.Append("</body></html>\n");
        return sb.ToString();
    }
}
