using Microsoft.ML;
using MLNetMixers.Cli.Reporting;

namespace MLNetMixers.Tests.Cli;

/// <summary>The model report's curves against ML.NET's evaluator, and the charts written as PNG files.</summary>
public class ModelChartsTests
{
    private static readonly byte[] PngSignature = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>Noisy scores with ties (rounded to 0.1): the curves must group tied rows as the evaluator does.</summary>
    private static (bool[] Labels, float[] Scores) Synthetic(int rows, int seed)
    {
        var random = new Random(seed);
        var labels = new bool[rows];
        var scores = new float[rows];
        for (int i = 0; i < rows; i++)
        {
            labels[i] = random.NextDouble() < 0.4;
            scores[i] = (float)Math.Round(Math.Clamp((labels[i] ? 0.62 : 0.38) + 0.25 * (random.NextDouble() - 0.5) * 2, 0, 1), 1);
        }
        return (labels, scores);
    }

    [Fact]
    public void RocAreaMatchesTheEvaluatorAndTheCurvesEndAtTheirCorners()
    {
        var (labels, scores) = Synthetic(400, seed: 5);
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(labels.Select((l, i) => new Scored { Label = l, Score = scores[i], Probability = scores[i], PredictedLabel = scores[i] > 0.5f }));
        var metrics = ml.BinaryClassification.Evaluate(data);

        var (fpr, tpr, auc) = ModelCharts.Roc(labels, scores);
        Assert.Equal(metrics.AreaUnderRocCurve, auc, 6);
        Assert.Equal((0.0, 0.0), (fpr[0], tpr[0]));
        Assert.Equal((1.0, 1.0), (fpr[^1], tpr[^1]));
        Assert.Equal(scores.Distinct().Count() + 1, fpr.Length);   // one point per distinct score, after the origin

        var (recall, precision, average) = ModelCharts.PrecisionRecall(labels, scores);
        Assert.Equal(1.0, recall[^1]);
        Assert.Equal(labels.Count(l => l) / (double)labels.Length, precision[^1], 9);   // everything predicted positive
        Assert.True(recall.Zip(recall.Skip(1)).All(p => p.First <= p.Second));
        Assert.InRange(average, labels.Count(l => l) / (double)labels.Length, 1.0);
        Assert.InRange(average, metrics.AreaUnderPrecisionRecallCurve - 0.05, metrics.AreaUnderPrecisionRecallCurve + 0.05);
    }

    [Fact]
    public void ChartsAreWrittenAsPngFiles()
    {
        var (labels, scores) = Synthetic(200, seed: 6);
        string folder = TestData.NewTempFolder();
        var binary = new[] { new ModelCharts.BinaryScores("Mixer", labels, scores), new ModelCharts.BinaryScores("LightGBM", labels, scores.Select(s => 1 - s).ToArray()) };
        ModelCharts.WriteRoc(Path.Combine(folder, "roc.png"), binary);
        ModelCharts.WritePrecisionRecall(Path.Combine(folder, "pr.png"), binary);
        var actual = scores.Select((s, i) => s * 10 + i % 3).ToArray();
        var regression = new[] { new ModelCharts.RegressionScores("Mixer", actual, scores.Select(s => s * 10).ToArray()) };
        ModelCharts.WritePredictedVsActual(Path.Combine(folder, "pva.png"), regression);
        ModelCharts.WriteResiduals(Path.Combine(folder, "residuals.png"), regression);
        ModelCharts.WriteTrials(Path.Combine(folder, "trials.png"), [(1, 0.71), (2, 0.69), (3, 0.78), (4, double.NaN)], "AUC");
        foreach (string file in new[] { "roc.png", "pr.png", "pva.png", "residuals.png", "trials.png" })
        {
            var bytes = File.ReadAllBytes(Path.Combine(folder, file));
            Assert.Equal(PngSignature, bytes.Take(8));
            Assert.True(bytes.Length > 5000, $"{file}: {bytes.Length} bytes");
        }
    }

    private sealed class Scored
    {
        public bool Label { get; set; }
        public float Score { get; set; }
        public float Probability { get; set; }
        public bool PredictedLabel { get; set; }
    }
}
