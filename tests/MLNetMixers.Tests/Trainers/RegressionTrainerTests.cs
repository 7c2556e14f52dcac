using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetMixers.Tests.Trainers;

public class RegressionTrainerTests(ConcreteModelFixture fixture) : IClassFixture<ConcreteModelFixture>
{
    private sealed class Prediction
    {
        public float Label { get; set; }
        public float Score { get; set; }
    }

    [Fact]
    public void HeldOutRSquaredIsFarAboveChance()
    {
        var metrics = fixture.Ml.Regression.Evaluate(fixture.Model.Transform(fixture.Split.TestSet));
        // Predicting the mean gives R^2 = 0; a linear model reaches about 0.6.
        Assert.True(metrics.RSquared > 0.6, $"R^2 {metrics.RSquared:F3}");
    }

    [Fact]
    public void ScoresAreInTheLabelsUnits()
    {
        var predictions = fixture.Ml.Data.CreateEnumerable<Prediction>(fixture.Model.Transform(fixture.Split.TestSet), false).ToArray();
        double labelMean = predictions.Average(p => p.Label), scoreMean = predictions.Average(p => p.Score);
        // Strengths are 2..83 MPa: standardised outputs (mean 0, std 1) would be far off.
        Assert.InRange(scoreMean, labelMean - 5, labelMean + 5);
        Assert.True(predictions.Max(p => p.Score) > 50);
    }

    [Fact]
    public void ModelZipRoundTripPredictsBitIdentically()
    {
        var before = fixture.Ml.Data.CreateEnumerable<Prediction>(fixture.Model.Transform(fixture.Split.TestSet), false).Select(p => p.Score).ToArray();
        var loaded = ModelZip.RoundTrip(fixture.Ml, fixture.Model, fixture.Split.TrainSet.Schema, out var fresh);
        var after = fresh.Data.CreateEnumerable<Prediction>(loaded.Transform(fixture.Split.TestSet), false).Select(p => p.Score).ToArray();
        Assert.Equal(before, after);
    }
}
