using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetMixers.Tests.Trainers;

/// <summary>
/// Dropout = null sizes the dropout to the training rows (see <see cref="MixerTrainerOptions.Dropout"/>); an explicit
/// value is always used as given, and the model is built and saved with the value chosen.
/// </summary>
public class DropoutDefaultTests
{
    [Fact]
    public void NullDropoutIsChosenFromTheTrainingRowsAndAnExplicitValueWins()
    {
        var options = new MixerBinaryTrainer.Options();
        Assert.Null(options.Dropout);
        Assert.Equal(MixerTrainerOptions.SmallTableDropout, options.ResolveDropout(1));
        Assert.Equal(MixerTrainerOptions.SmallTableDropout, options.ResolveDropout(MixerTrainerOptions.SmallTableRows - 1));
        Assert.Equal(MixerTrainerOptions.LargeTableDropout, options.ResolveDropout(MixerTrainerOptions.SmallTableRows));
        Assert.Equal(MixerTrainerOptions.LargeTableDropout, options.ResolveDropout(1_000_000));
        Assert.NotEqual(MixerTrainerOptions.SmallTableDropout, MixerTrainerOptions.LargeTableDropout);

        foreach (double explicitValue in new[] { 0.0, 0.1, 0.5 })
        {
            var chosen = new MixerRegressionTrainer.Options { Dropout = explicitValue };
            Assert.Equal(explicitValue, chosen.ResolveDropout(10));
            Assert.Equal(explicitValue, chosen.ResolveDropout(100_000));
        }
    }

    [Fact]
    public void InvalidExplicitDropoutIsRejected()
    {
        var ml = new MLContext(seed: 1);
        var error = Assert.ThrowsAny<ArgumentException>(() => ml.Regression.Trainers.Mixer(new MixerRegressionTrainer.Options { Dropout = 1 }));
        Assert.Contains("Dropout", error.Message);
    }

    [Theory]
    [InlineData(MixerTrainerOptions.SmallTableRows - 1, null, MixerTrainerOptions.SmallTableDropout)]
    [InlineData(MixerTrainerOptions.SmallTableRows, null, MixerTrainerOptions.LargeTableDropout)]
    [InlineData(MixerTrainerOptions.SmallTableRows - 1, 0.05, 0.05)]
    public void TheModelIsBuiltLoggedAndSavedWithTheResolvedDropout(int rows, double? dropout, double expected)
    {
        var ml = new MLContext(seed: 1);
        var messages = new List<string>();
        ml.Log += (_, e) => { lock (messages) messages.Add(e.Message); };
        // Concrete has 1030 rows: the first 999 or 1000 fall either side of the rule's threshold.
        var data = ml.Data.TakeRows(TrainerData.Concrete(ml), rows);
        var pipeline = ml.Transforms.EncodeAsCharacters("Features", TrainerData.ConcreteFeatures)
            .Append(ml.Regression.Trainers.Mixer(new MixerRegressionTrainer.Options
            {
                Dropout = dropout, Width = 8, Depth = 1, MlpRatio = 1, Epochs = 1, BatchSize = 128, NumberOfThreads = 1, Seed = 1,
            }));
        var model = pipeline.Fit(data);

        Assert.Equal(expected, model.LastTransformer.Shape.Dropout);
        Assert.Contains(messages, m => m.Contains($"on {rows} rows") && m.Contains($"dropout {expected}" + (dropout is null ? " (chosen for" : ".")));

        var loaded = Assert.IsAssignableFrom<IEnumerable<ITransformer>>(ModelZip.RoundTrip(ml, model, data.Schema, out _));
        var mixer = Assert.IsType<MixerPredictionTransformer>(loaded.Last());
        Assert.Equal(expected, mixer.Shape.Dropout);
    }
}
