using Microsoft.ML;
using Microsoft.ML.Data;
using Xunit;

namespace MLNetMixers.Tests.Trainers;

/// <summary><see cref="MixerTrainerOptions.EmbeddingColumnName"/>: the pooled final representation as a vector column.</summary>
public class RowEmbeddingTests
{
    [Fact]
    public void EmbeddingColumnHasTheModelWidthIsDeterministicSurvivesTheZipAndSeparatesTheClasses()
    {
        var ml = new MLContext(seed: 1);
        var split = ml.Data.TrainTestSplit(TrainerData.Penguins(ml), testFraction: 0.3, seed: 1);
        var options = SmallNetwork.Configure(new MixerMulticlassTrainer.Options { EmbeddingColumnName = "Embedding" }, epochs: 8);
        var model = ml.Transforms.Conversion.MapValueToKey("Label", "species")
            .Append(ml.Transforms.EncodeAsCharacters("Features", TrainerData.PenguinFeatures))
            .Append(ml.MulticlassClassification.Trainers.Mixer(options))
            .Fit(split.TrainSet);

        var scored = model.Transform(split.TestSet);
        var column = scored.Schema["Embedding"];
        Assert.Equal(new VectorDataViewType(NumberDataViewType.Single, options.Width), column.Type);
        var first = Embeddings(scored);
        var again = Embeddings(model.Transform(split.TestSet));
        Assert.Equal(first, again);
        Assert.All(first, e => Assert.True(e.All(float.IsFinite) && e.Any(v => v != 0)));
        // Saved and loaded with the zip.
        var loaded = ModelZip.RoundTrip(ml, model, split.TrainSet.Schema, out _);
        Assert.Equal(first, Embeddings(loaded.Transform(split.TestSet)));

        // Nearest class centroid of the training rows' embeddings classifies held-out rows far above chance (the
        // majority class is 44 % of the penguins).
        var train = model.Transform(split.TrainSet);
        var trainEmbeddings = Embeddings(train);
        var trainLabels = train.GetColumn<uint>("Label").ToArray();
        var testLabels = scored.GetColumn<uint>("Label").ToArray();
        var centroids = trainLabels.Distinct().ToDictionary(c => c, c =>
        {
            var members = trainEmbeddings.Where((_, i) => trainLabels[i] == c).ToArray();
            return Enumerable.Range(0, options.Width).Select(d => members.Average(m => m[d])).ToArray();
        });
        double accuracy = first.Select((e, i) => centroids.MinBy(c => c.Value.Select((v, d) => (v - e[d]) * (v - e[d])).Sum()).Key == testLabels[i] ? 1.0 : 0.0).Average();
        Assert.True(accuracy > 0.8, $"nearest-centroid accuracy on the embedding {accuracy:F3}");
    }

    [Fact]
    public void WithoutTheOptionThereIsNoEmbeddingAndAReservedNameIsRefused()
    {
        var ml = new MLContext(seed: 1);
        var data = TrainerData.Diabetes(ml);
        var encoded = ml.Transforms.EncodeAsCharacters("Features", TrainerData.DiabetesFeatures).Fit(data).Transform(data);
        var shape = ml.BinaryClassification.Trainers.Mixer(new MixerBinaryTrainer.Options()).GetOutputSchema(SchemaShape.Create(encoded.Schema));
        Assert.DoesNotContain(shape, c => c.Name == "Embedding");
        var withEmbedding = ml.BinaryClassification.Trainers.Mixer(new MixerBinaryTrainer.Options { EmbeddingColumnName = "Row" }).GetOutputSchema(SchemaShape.Create(encoded.Schema));
        Assert.Contains(withEmbedding, c => c.Name == "Row" && c.Kind == SchemaShape.Column.VectorKind.Vector);
        var ex = Assert.ThrowsAny<ArgumentException>(() => ml.BinaryClassification.Trainers.Mixer(new MixerBinaryTrainer.Options { EmbeddingColumnName = "Score" }));
        Assert.Contains("EmbeddingColumnName", ex.Message);
    }

    private static float[][] Embeddings(IDataView scored)
        => scored.GetColumn<VBuffer<float>>("Embedding").Select(v => v.DenseValues().ToArray()).ToArray();
}
