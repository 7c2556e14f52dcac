using System.Globalization;
using ScottPlot;

namespace MLNetMixers.Cli.Reporting;

/// <summary>
/// The charts a Model Builder user looks at, drawn from plain arrays (no ML.NET types, so that the tests and the
/// experiment's leaderboard can call it directly): ROC and precision-recall curves, predicted against actual,
/// residuals, and trial scores. Each is written as a PNG file.
/// </summary>
internal static class ModelCharts
{
    public const int Width = 640, Height = 480;

    /// <summary>One model's held-out binary predictions: the true class and P(positive).</summary>
    public sealed record BinaryScores(string Model, bool[] Labels, float[] Probabilities);

    /// <summary>One model's held-out regression predictions.</summary>
    public sealed record RegressionScores(string Model, float[] Actual, float[] Predicted);

    /// <summary>
    /// ROC curve points (false-positive rate, true-positive rate) from the highest score down, one point per distinct
    /// score (tied rows move together), and the area under it.
    /// </summary>
    public static (double[] Fpr, double[] Tpr, double Auc) Roc(bool[] labels, float[] scores)
    {
        var (positives, negatives, groups) = Sweep(labels, scores);
        var fpr = new List<double> { 0 };
        var tpr = new List<double> { 0 };
        double auc = 0;
        foreach (var (tp, fp) in groups)
        {
            double x = negatives == 0 ? 0 : (double)fp / negatives, y = positives == 0 ? 0 : (double)tp / positives;
            auc += (x - fpr[^1]) * (y + tpr[^1]) / 2;
            fpr.Add(x);
            tpr.Add(y);
        }
        return ([.. fpr], [.. tpr], auc);
    }

    /// <summary>Precision-recall points from the highest score down, and the average precision Σ (R_k - R_k-1) · P_k.</summary>
    public static (double[] Recall, double[] Precision, double AveragePrecision) PrecisionRecall(bool[] labels, float[] scores)
    {
        var (positives, _, groups) = Sweep(labels, scores);
        var recall = new List<double>();
        var precision = new List<double>();
        double average = 0, previous = 0;
        foreach (var (tp, fp) in groups)
        {
            double r = positives == 0 ? 0 : (double)tp / positives, p = tp + fp == 0 ? 1 : (double)tp / (tp + fp);
            average += (r - previous) * p;
            previous = r;
            recall.Add(r);
            precision.Add(p);
        }
        return ([.. recall], [.. precision], average);
    }

    /// <summary>Cumulative (true positives, false positives) after each group of equal scores, highest first.</summary>
    private static (int Positives, int Negatives, List<(int Tp, int Fp)> Groups) Sweep(bool[] labels, float[] scores)
    {
        if (labels.Length != scores.Length)
            throw new ArgumentException($"{labels.Length} labels but {scores.Length} scores.");
        var order = Enumerable.Range(0, labels.Length).Where(i => !float.IsNaN(scores[i])).OrderByDescending(i => scores[i]).ToArray();
        int positives = order.Count(i => labels[i]), negatives = order.Length - positives;
        var groups = new List<(int, int)>();
        int truePositives = 0, falsePositives = 0;
        for (int k = 0; k < order.Length; k++)
        {
            if (labels[order[k]]) truePositives++; else falsePositives++;
            if (k == order.Length - 1 || scores[order[k + 1]] != scores[order[k]])
                groups.Add((truePositives, falsePositives));
        }
        return (positives, negatives, groups);
    }

    /// <summary>ROC curves of every model on one chart, with the chance diagonal.</summary>
    public static void WriteRoc(string path, IReadOnlyList<BinaryScores> models)
    {
        var plot = new Plot();
        foreach (var m in models)
        {
            var (fpr, tpr, auc) = Roc(m.Labels, m.Probabilities);
            Curve(plot, fpr, tpr, $"{m.Model} (AUC {Show(auc)})");
        }
        Diagonal(plot, 0, 0, 1, 1, "chance");
        Finish(plot, "ROC curve (held-out rows)", "false-positive rate", "true-positive rate", Alignment.LowerRight);
        plot.Axes.SetLimits(0, 1, 0, 1.02);
        plot.SavePng(path, Width, Height);
    }

    /// <summary>Precision-recall curves of every model, with the positive rate (a random model's precision).</summary>
    public static void WritePrecisionRecall(string path, IReadOnlyList<BinaryScores> models)
    {
        var plot = new Plot();
        foreach (var m in models)
        {
            var (recall, precision, average) = PrecisionRecall(m.Labels, m.Probabilities);
            Curve(plot, recall, precision, $"{m.Model} (AP {Show(average)})");
        }
        if (models.Count > 0 && models[0].Labels.Length > 0)
        {
            double rate = models[0].Labels.Count(l => l) / (double)models[0].Labels.Length;
            Diagonal(plot, 0, rate, 1, rate, "positive rate");
        }
        Finish(plot, "Precision-recall curve (held-out rows)", "recall", "precision", Alignment.LowerLeft);
        plot.Axes.SetLimits(0, 1, 0, 1.02);
        plot.SavePng(path, Width, Height);
    }

    /// <summary>Predicted against actual for every model, with the line of perfect predictions.</summary>
    public static void WritePredictedVsActual(string path, IReadOnlyList<RegressionScores> models)
    {
        var plot = new Plot();
        foreach (var m in models)
            Points(plot, m.Actual, m.Predicted, m.Model);
        var all = models.SelectMany(m => m.Actual.Concat(m.Predicted)).Where(float.IsFinite).ToArray();
        if (all.Length > 0)
            Diagonal(plot, all.Min(), all.Min(), all.Max(), all.Max(), "predicted = actual");
        Finish(plot, "Predicted against actual (held-out rows)", "actual", "predicted", Alignment.UpperLeft);
        plot.SavePng(path, Width, Height);
    }

    /// <summary>Residuals (actual - predicted) against the prediction: a pattern here is what the model missed.</summary>
    public static void WriteResiduals(string path, IReadOnlyList<RegressionScores> models)
    {
        var plot = new Plot();
        foreach (var m in models)
            Points(plot, m.Predicted, m.Actual.Zip(m.Predicted, (a, p) => a - p).ToArray(), m.Model);
        var line = plot.Add.HorizontalLine(0);
        line.LinePattern = LinePattern.Dashed;
        line.Color = Colors.Gray;
        Finish(plot, "Residuals (held-out rows)", "predicted", "actual - predicted", Alignment.UpperRight);
        plot.SavePng(path, Width, Height);
    }

    /// <summary>
    /// The leaderboard's chart: each trial's score in the order the trials ran, and the best score so far. The hook for
    /// a time-budgeted experiment; it needs only (trial, score) pairs.
    /// </summary>
    public static void WriteTrials(string path, IReadOnlyList<(int Trial, double Score)> trials, string metric, bool higherIsBetter = true)
    {
        var plot = new Plot();
        var ordered = trials.Where(t => double.IsFinite(t.Score)).OrderBy(t => t.Trial).ToArray();
        if (ordered.Length > 0)
        {
            double[] x = [.. ordered.Select(t => (double)t.Trial)], y = [.. ordered.Select(t => t.Score)];
            var points = plot.Add.Scatter(x, y);
            points.LineWidth = 0;
            points.MarkerSize = 7;
            points.LegendText = "trial";
            var best = new double[y.Length];
            for (int i = 0; i < y.Length; i++)
                best[i] = i == 0 ? y[0] : higherIsBetter ? Math.Max(best[i - 1], y[i]) : Math.Min(best[i - 1], y[i]);
            var line = plot.Add.Scatter(x, best);
            line.ConnectStyle = ConnectStyle.StepHorizontal;
            line.MarkerSize = 0;
            line.LegendText = "best so far";
        }
        Finish(plot, "Trials", "trial", metric, higherIsBetter ? Alignment.LowerRight : Alignment.UpperRight);
        plot.SavePng(path, Width, Height);
    }

    private static void Curve(Plot plot, double[] x, double[] y, string label)
    {
        var line = plot.Add.Scatter(x, y);
        line.MarkerSize = 0;
        line.LineWidth = 2;
        line.LegendText = label;
    }

    private static void Points(Plot plot, float[] x, float[] y, string label)
    {
        var keep = Enumerable.Range(0, Math.Min(x.Length, y.Length)).Where(i => float.IsFinite(x[i]) && float.IsFinite(y[i])).ToArray();
        var points = plot.Add.Scatter(keep.Select(i => (double)x[i]).ToArray(), keep.Select(i => (double)y[i]).ToArray());
        points.LineWidth = 0;
        points.MarkerSize = 4;
        points.LegendText = label;
    }

    private static void Diagonal(Plot plot, double x1, double y1, double x2, double y2, string label)
    {
        var line = plot.Add.Line(x1, y1, x2, y2);
        line.LinePattern = LinePattern.Dashed;
        line.Color = Colors.Gray;
        line.LegendText = label;
    }

    private static void Finish(Plot plot, string title, string x, string y, Alignment legend)
    {
        plot.Title(title);
        plot.XLabel(x);
        plot.YLabel(y);
        plot.ShowLegend(legend);
    }

    private static string Show(double value) => value.ToString("F3", CultureInfo.InvariantCulture);
}
