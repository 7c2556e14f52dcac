using Microsoft.ML;

namespace MLNetMixers.Tests.Trainers;

/// <summary>
/// Dropout = null sizes the dropout to the task and the training rows (see <see cref="MixerTrainerOptions.Dropout"/>);
/// an explicit value is always used as given, and the model is built, logged and saved with the value chosen.
/// </summary>
public class DropoutDefaultTests
{
    [Fact]
    public void NullDropoutIsChosenFromTheTaskAndTrainingRows()
    {
        const int threshold = MixerTrainerOptions.SmallTableRows;
        foreach (MixerTrainerOptions classification in new MixerTrainerOptions[] { new MixerBinaryTrainer.Options(), new MixerMulticlassTrainer.Options() })
        {
            Assert.Null(classification.Dropout);
            Assert.Equal(0.3, classification.ResolveDropout(1, valueTokens: false));
            Assert.Equal(0.3, classification.ResolveDropout(threshold - 1, valueTokens: false));
            Assert.Equal(0.1, classification.ResolveDropout(threshold, valueTokens: false));
            Assert.Equal(0.1, classification.ResolveDropout(1_000_000, valueTokens: false));
        }
        var regression = new MixerRegressionTrainer.Options();
        Assert.Null(regression.Dropout);
        foreach (MixerTrainerOptions options in new MixerTrainerOptions[] { new MixerBinaryTrainer.Options(), new MixerMulticlassTrainer.Options(), regression })
        {
            Assert.Equal(0, options.ResolveDropout(1, valueTokens: true));
            Assert.Equal(0, options.ResolveDropout(1_000_000, valueTokens: true));
        }
        Assert.Equal(0.1, regression.ResolveDropout(threshold - 1, valueTokens: false));
        Assert.Equal(0.1, regression.ResolveDropout(threshold, valueTokens: false));
    }

    [Fact]
    public void AnExplicitDropoutIsUsedAsGivenAtEverySize()
    {
        foreach (double explicitValue in new[] { 0.0, 0.1, 0.5 })
        {
            foreach (MixerTrainerOptions options in new MixerTrainerOptions[] { new MixerBinaryTrainer.Options(), new MixerMulticlassTrainer.Options(), new MixerRegressionTrainer.Options() })
            {
                options.Dropout = explicitValue;
                Assert.Equal(explicitValue, options.ResolveDropout(10, valueTokens: false));
                Assert.Equal(explicitValue, options.ResolveDropout(100_000, valueTokens: true));
            }
        }
    }

    [Fact]
    public void AnOutOfRangeDropoutIsRejected()
    {
        var ml = new MLContext(seed: 1);
        var error = Assert.ThrowsAny<ArgumentException>(() => ml.BinaryClassification.Trainers.Mixer(new MixerBinaryTrainer.Options { Dropout = 1 }));
        Assert.Contains("Dropout", error.Message);
    }

    [Theory]
    [InlineData(MixerTrainerOptions.SmallTableRows - 1, null, false, 0.3)]
    [InlineData(MixerTrainerOptions.SmallTableRows, null, false, 0.1)]
    [InlineData(MixerTrainerOptions.SmallTableRows - 1, 0.05, false, 0.05)]
    [InlineData(MixerTrainerOptions.SmallTableRows - 1, null, true, MixerTrainerOptions.ValueTokenDropout)]
    [InlineData(MixerTrainerOptions.SmallTableRows, 0.05, true, 0.05)]
    public void TheModelIsBuiltLoggedAndSavedWithTheResolvedDropout(int rows, double? dropout, bool valueTokens, double expected)
    {
        var ml = new MLContext(seed: 1);
        var messages = new List<string>();
        ml.Log += (_, e) => { lock (messages) messages.Add(e.Message); };
        // Rows either side of the rule's threshold: a synthetic table, so the counts are exact.
        var random = new Random(1);
        var data = ml.Data.LoadFromEnumerable(Enumerable.Range(0, rows).Select(_ =>
        {
            float x = (float)random.NextDouble(), y = (float)random.NextDouble();
            return new Row { X = x, Y = y, Label = x + y > 1 };
        }).ToList());
        var pipeline = ml.Transforms.EncodeAsCharacters(new CharacterEncodingOptions { InputColumnNames = [nameof(Row.X), nameof(Row.Y)], NumberValueTokens = valueTokens })
            .Append(ml.BinaryClassification.Trainers.Mixer(new MixerBinaryTrainer.Options
            {
                Dropout = dropout, Width = 8, Depth = 1, MlpRatio = 1, Epochs = 1, BatchSize = 128, NumberOfThreads = 1, Seed = 1,
            }));
        var model = pipeline.Fit(data);

        Assert.Equal(expected, model.LastTransformer.Shape.Dropout);
        Assert.Contains(messages, m => m.Contains($"on {rows} rows") && m.Contains($"dropout {expected}" +
            (dropout is not null ? "." : valueTokens ? " (chosen for numbers as value tokens)" : " (chosen for")));

        var loaded = Assert.IsAssignableFrom<IEnumerable<ITransformer>>(ModelZip.RoundTrip(ml, model, data.Schema, out _));
        Assert.Equal(expected, Assert.IsType<MixerPredictionTransformer>(loaded.Last()).Shape.Dropout);
    }

    private sealed class Row
    {
        public float X { get; set; }
        public float Y { get; set; }
        public bool Label { get; set; }
    }
}
