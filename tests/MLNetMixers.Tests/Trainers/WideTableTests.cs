using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetMixers.Models;
using static TorchSharp.torch;

namespace MLNetMixers.Tests.Trainers;

/// <summary>Wide rows: adjacent positions grouped into tokens (<see cref="MixerTrainerOptions.MaxMixedTokens"/>).</summary>
public class WideTableTests
{
    [Fact]
    public void GroupingKeepsTheWeightsOfAWideRowFarBelowDenseMixing()
    {
        const int positions = 2001;   // not a multiple of the group: the last group is padded
        int group = TabularModelConfig.GroupFor(positions, 512);
        Assert.Equal(4, group);
        Assert.Equal(1, TabularModelConfig.GroupFor(512, 512));
        Assert.Equal(1, TabularModelConfig.GroupFor(5000, 0));
        var dense = new TabularModelConfig(TabularArchitecture.Mixer, positions, 40, 2, 32, 2, 2, 1, 0.0);
        var grouped = dense with { PositionsPerToken = group };
        Assert.Equal(501, grouped.MixedTokens);
        using var denseNet = dense.Create();
        using var groupedNet = grouped.Create();
        long Count(TabularModel m) => m.parameters().Sum(p => p.numel());
        Assert.True(Count(groupedNet) * 8 < Count(denseNet), $"grouped {Count(groupedNet)} weights, dense {Count(denseNet)}");

        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var tokens = randint(0, 40, [3, positions], dtype: ScalarType.Int64);
        var (outputs, representation) = groupedNet.ForwardWithRepresentation(tokens);
        Assert.Equal([3L, 2L], outputs.shape);
        Assert.Equal([3L, 32L], representation.shape);
        Assert.True(outputs.isfinite().all().item<bool>());
    }

    [Fact]
    public void AGroupedModelLearnsSavesAndLoads()
    {
        var ml = new MLContext(seed: 1);
        var split = ml.Data.TrainTestSplit(TrainerData.Diabetes(ml), testFraction: 0.25, seed: 1);
        var options = SmallNetwork.Configure(new MixerBinaryTrainer.Options { MaxMixedTokens = 3 }, epochs: 6);
        var model = ml.Transforms.EncodeAsCharacters("Features", TrainerData.DiabetesFeatures)
            .Append(ml.BinaryClassification.Trainers.Mixer(options))
            .Fit(split.TrainSet);
        Assert.True(model.LastTransformer.Shape.PositionsPerToken >= 3);
        var scored = model.Transform(split.TestSet);
        double auc = ml.BinaryClassification.Evaluate(scored).AreaUnderRocCurve;
        Assert.True(auc > 0.7, $"held-out AUC {auc:F3}");
        var loaded = ModelZip.RoundTrip(ml, model, split.TrainSet.Schema, out _);
        Assert.Equal(scored.GetColumn<float>("Score").ToArray(), loaded.Transform(split.TestSet).GetColumn<float>("Score").ToArray());
    }

    [Fact]
    public void WideRowsAreScoredInSmallerBatchesWithTheSameScores()
    {
        // 300 number columns: at least 300 positions, so a scoring run takes at most 65,536 / 300 = 218 rows instead of 256.
        const int columns = 300, rows = 300;
        var random = new Random(1);
        string csv = Path.Combine(TestData.NewTempFolder(), "wide.csv");
        using (var writer = new StreamWriter(csv))
        {
            writer.WriteLine(string.Join(",", Enumerable.Range(0, columns).Select(c => $"c{c}").Append("Label")));
            for (int r = 0; r < rows; r++)
            {
                var values = Enumerable.Range(0, columns).Select(_ => random.NextDouble()).ToArray();
                writer.WriteLine(string.Join(",", values.Select(v => v.ToString("F3", System.Globalization.CultureInfo.InvariantCulture)))
                                 + (values[0] + values[1] > 1 ? ",true" : ",false"));
            }
        }
        var ml = new MLContext(seed: 1);
        var names = Enumerable.Range(0, columns).Select(c => $"c{c}").ToArray();
        var loaderColumns = names.Select((n, c) => new TextLoader.Column(n, DataKind.Single, c))
            .Append(new TextLoader.Column("Label", DataKind.Boolean, columns)).ToArray();
        var data = ml.Data.Cache(ml.Data.LoadFromTextFile(csv, loaderColumns, separatorChar: ',', hasHeader: true));
        var options = SmallNetwork.Configure(new MixerBinaryTrainer.Options(), epochs: 1);
        var model = ml.Transforms.EncodeAsCharacters("Features", names).Append(ml.BinaryClassification.Trainers.Mixer(options)).Fit(data);
        int perRun = model.LastTransformer.ScoringRows;
        Assert.True(model.LastTransformer.SequenceLength >= columns);
        Assert.Equal(65_536 / model.LastTransformer.SequenceLength, perRun);
        Assert.True(perRun < 256);

        var all = model.Transform(data).GetColumn<float>("Score").ToArray();
        Assert.Equal(rows, all.Length);
        foreach (int row in new[] { 0, perRun - 1, perRun, rows - 1 })
        {
            float alone = model.Transform(ml.Data.TakeRows(row == 0 ? data : ml.Data.SkipRows(data, row), 1)).GetColumn<float>("Score").Single();
            Assert.Equal(alone, all[row], 5);
        }
    }
}
