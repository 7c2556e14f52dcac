using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetMixers.Tests.Trainers;

public class MulticlassTrainerTests(PenguinModelFixture fixture) : IClassFixture<PenguinModelFixture>
{
    private sealed class Penguin
    {
        public string species { get; set; } = "";
        public string island { get; set; } = "";
        public float bill_length_mm { get; set; }
        public float bill_depth_mm { get; set; }
        public float flipper_length_mm { get; set; }
        public float body_mass_g { get; set; }
        public string sex { get; set; } = "";
    }

    private sealed class Prediction
    {
        public float[] Score { get; set; } = [];
        public uint PredictedLabel { get; set; }
    }

    private sealed class Named
    {
        public string species { get; set; } = "";
        public string PredictedSpecies { get; set; } = "";
    }

    [Fact]
    public void HeldOutAccuracyIsFarAboveChance()
    {
        var metrics = fixture.Ml.MulticlassClassification.Evaluate(fixture.Model.Transform(fixture.Split.TestSet));
        // Chance (the majority class) is about 0.44.
        Assert.True(metrics.MicroAccuracy > 0.9, $"accuracy {metrics.MicroAccuracy:F3}");
    }

    [Fact]
    public void MapKeyToValueNamesThePredictedSpecies()
    {
        var scored = fixture.Model.Transform(fixture.Split.TestSet);
        var named = fixture.Ml.Transforms.Conversion.MapKeyToValue("PredictedSpecies", "PredictedLabel").Fit(scored).Transform(scored);
        var rows = fixture.Ml.Data.CreateEnumerable<Named>(named, false).ToArray();
        Assert.All(rows, r => Assert.Contains(r.PredictedSpecies, new[] { "Adelie", "Chinstrap", "Gentoo" }));
        Assert.True(rows.Count(r => r.PredictedSpecies == r.species) > 0.9 * rows.Length);

        VBuffer<ReadOnlyMemory<char>> slotNames = default;
        scored.Schema["Score"].GetSlotNames(ref slotNames);
        Assert.Equal(new[] { "Adelie", "Gentoo", "Chinstrap" }.OrderBy(s => s), slotNames.DenseValues().Select(s => s.ToString()).OrderBy(s => s));
    }

    [Fact]
    public void ScoresAreProbabilitiesAndPredictedLabelIsTheLargest()
    {
        var predictions = fixture.Ml.Data.CreateEnumerable<Prediction>(fixture.Model.Transform(fixture.Split.TestSet), false).ToArray();
        Assert.All(predictions, p =>
        {
            Assert.Equal(3, p.Score.Length);
            Assert.Equal(1.0, p.Score.Sum(), 1e-4);
            Assert.Equal((uint)Array.IndexOf(p.Score, p.Score.Max()) + 1, p.PredictedLabel);
        });
    }

    [Fact]
    public void OnePredictionEnginePerThreadAgreesWithBatchScoring()
    {
        var rows = fixture.Ml.Data.CreateEnumerable<Penguin>(fixture.Split.TestSet, false).ToArray();
        // Both paths read the same objects (a loader's empty text and a C# "" encode differently: missing vs padding).
        var batch = fixture.Ml.Data.CreateEnumerable<Prediction>(fixture.Model.Transform(fixture.Ml.Data.LoadFromEnumerable(rows)), false).ToArray();
        var results = new Prediction[rows.Length];
        Parallel.For(0, 4, new ParallelOptions { MaxDegreeOfParallelism = 4 }, worker =>
        {
            var engine = fixture.Ml.Model.CreatePredictionEngine<Penguin, Prediction>(fixture.Model);
            for (int i = worker; i < rows.Length; i += 4)
                results[i] = engine.Predict(rows[i]);
        });
        for (int i = 0; i < rows.Length; i++)
        {
            Assert.Equal(batch[i].PredictedLabel, results[i].PredictedLabel);
            for (int k = 0; k < 3; k++)
                Assert.Equal(batch[i].Score[k], (double)results[i].Score[k], 1e-5);
        }
    }

    [Fact]
    public void ModelZipRoundTripKeepsScoresAndClassNames()
    {
        var before = fixture.Ml.Data.CreateEnumerable<Prediction>(fixture.Model.Transform(fixture.Split.TestSet), false).ToArray();
        var loaded = ModelZip.RoundTrip(fixture.Ml, fixture.Model, fixture.Split.TrainSet.Schema, out var fresh);
        var scored = loaded.Transform(fixture.Split.TestSet);
        var after = fresh.Data.CreateEnumerable<Prediction>(scored, false).ToArray();
        Assert.Equal(before.Length, after.Length);
        for (int i = 0; i < before.Length; i++)
        {
            Assert.Equal(before[i].Score, after[i].Score);
            Assert.Equal(before[i].PredictedLabel, after[i].PredictedLabel);
        }
        var named = fresh.Transforms.Conversion.MapKeyToValue("PredictedSpecies", "PredictedLabel").Fit(scored).Transform(scored);
        Assert.All(fresh.Data.CreateEnumerable<Named>(named, false), r => Assert.False(string.IsNullOrEmpty(r.PredictedSpecies)));
    }
}
