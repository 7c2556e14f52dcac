using System.Diagnostics;
using Microsoft.ML;

namespace MLNetMixers.Tests.Text;

public class LanguageModelTimeBudgetTests
{
    private sealed class Reports : IProgress<LanguageModelTrainingProgress>
    {
        public List<LanguageModelTrainingProgress> All { get; } = [];

        public void Report(LanguageModelTrainingProgress value) => All.Add(value);
    }

    [Fact]
    public void TrainingStopsAtTheTimeBudgetWithTheLearningRateDecayed()
    {
        var ml = new MLContext(seed: 1);
        var reports = new Reports();
        var options = TextTestHelpers.TinyOptions();
        options.Width = 16;
        options.Depth = 1;
        options.Steps = 1_000_000;
        options.MaxTrainingTime = TimeSpan.FromSeconds(1.5);
        options.LogInterval = 20;
        options.Progress = reports;
        var clock = Stopwatch.StartNew();
        using var model = ml.Transforms.Text.TrainMixerLanguageModel("Text", options)
            .Fit(TextTestHelpers.AsDataView(ml, TextTestHelpers.FortuneDocuments(40)));
        clock.Stop();

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"training took {clock.Elapsed}");
        var last = reports.All[^1];
        Assert.True(last.Step > 1 && last.Step < options.Steps, $"stopped at step {last.Step}");
        // The schedule followed the clock: the last step's learning rate (set as it began, shortly before the budget ran
        // out) is near the floor, not near the peak where a million planned steps alone would leave it.
        double floor = options.LearningRate * options.MinLearningRateRatio;
        Assert.InRange(last.LearningRate, floor, floor + 0.1 * (options.LearningRate - floor));
        Assert.Equal(TimeSpan.Zero, last.EstimatedRemaining);
    }

    [Fact]
    public void ANonPositiveTimeBudgetIsRefusedByName()
    {
        var options = TextTestHelpers.TinyOptions();
        options.MaxTrainingTime = TimeSpan.Zero;
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new MLContext().Transforms.Text.TrainMixerLanguageModel("Text", options));
        Assert.Contains("MaxTrainingTime", error.Message);
    }
}
