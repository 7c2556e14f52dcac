using Microsoft.ML;
using MLNetMixers.Text;

namespace MLNetMixers.Tests.Text;

public class ContextWarmupTests
{
    [Fact]
    public void WindowsGrowFrom64ToTheFullContextKeepingTheTokensOfAStep()
    {
        var options = new MixerLanguageModelOptions { BatchSize = 8, Steps = 1000, ContextWarmupFraction = 0.5 };
        const int window = 512;
        int previous = 0;
        var seen = new SortedSet<int>();
        for (int step = 0; step < 1000; step++)
        {
            int length = LanguageModelTrainer.WarmupWindow(options, window, step, TimeSpan.Zero);
            Assert.InRange(length, 64, window);
            Assert.True(length >= previous, $"the window shrank from {previous} to {length} at step {step}");
            Assert.Equal(0, options.BatchSize * window % length);
            previous = length;
            seen.Add(length);
        }
        Assert.Equal(64, LanguageModelTrainer.WarmupWindow(options, window, 0, TimeSpan.Zero));
        Assert.Equal(window, LanguageModelTrainer.WarmupWindow(options, window, 500, TimeSpan.Zero));
        Assert.True(seen.Count >= 3, $"only lengths {string.Join(", ", seen)}");

        // Under a time budget the ramp follows the clock, as the learning rate does.
        options.MaxTrainingTime = TimeSpan.FromMinutes(10);
        Assert.Equal(64, LanguageModelTrainer.WarmupWindow(options, window, 900, TimeSpan.Zero));
        Assert.Equal(window, LanguageModelTrainer.WarmupWindow(options, window, 0, TimeSpan.FromMinutes(5)));

        options.ContextWarmupFraction = 0;
        Assert.Equal(window, LanguageModelTrainer.WarmupWindow(options, window, 0, TimeSpan.Zero));
    }

    [Fact]
    public void AModelTrainsThroughTheWarmupAndAnOutOfRangeFractionIsRefusedByName()
    {
        var ml = new MLContext(seed: 1);
        var options = TextTestHelpers.TinyOptions();
        options.Architecture = MixerLanguageModelArchitecture.Transformer;
        options.Heads = 2;
        options.ContextLength = 128;
        options.Width = 16;
        options.Depth = 1;
        options.Steps = 12;
        options.ContextWarmupFraction = 0.5;
        using var model = ml.Transforms.Text.TrainMixerLanguageModel("Text", options)
            .Fit(TextTestHelpers.AsDataView(ml, TextTestHelpers.FortuneDocuments(20)));
        Assert.True(double.IsFinite(model.Evaluate(TextTestHelpers.FortuneDocuments(3)).Loss));

        options.ContextWarmupFraction = 1.5;
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.Text.TrainMixerLanguageModel("Text", options));
        Assert.Contains("ContextWarmupFraction", error.Message);
    }
}
