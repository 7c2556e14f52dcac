using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetMixers.Attribution;
using MLNetMixers.Tests.Encoding;
using Xunit.Abstractions;

namespace MLNetMixers.Tests.Attribution;

/// <summary>Integrated gradients on a real shared dataset (penguins, 3 species, missing values).</summary>
public class RealDataAttributionTests(ITestOutputHelper output)
{
    internal static IDataView LoadPenguins(MLContext ml) => ml.Data.LoadFromTextFile(TestData.Tabular("penguins.csv"),
        [
            new TextLoader.Column("species", DataKind.String, 0),
            new TextLoader.Column("island", DataKind.String, 1),
            new TextLoader.Column("bill_length_mm", DataKind.Single, 2),
            new TextLoader.Column("bill_depth_mm", DataKind.Single, 3),
            new TextLoader.Column("flipper_length_mm", DataKind.Single, 4),
            new TextLoader.Column("body_mass_g", DataKind.Single, 5),
            new TextLoader.Column("sex", DataKind.String, 6),
        ], separatorChar: ',', hasHeader: true, allowQuoting: true);

    internal static readonly Lazy<(ExplainedModel Model, int[][] Tokens)> Penguins = new(() =>
    {
        var ml = new MLContext(seed: 1);
        var data = LoadPenguins(ml);
        var encoder = ml.Transforms.EncodeAsCharacters("Features", "island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex").Fit(data);
        var tokens = EncodingTestHelpers.EncodeRows(encoder, data);
        string[] species = ["Adelie", "Chinstrap", "Gentoo"];
        var labels = EncodingTestHelpers.ReadText(data, "species").Select(s => (float)Array.IndexOf(species, s)).ToArray();
        var network = AttributionTestModels.Train(tokens, labels, ExplainedTask.Multiclass, 3, epochs: 30);
        return (new ExplainedModel(network, TorchSharp.torch.CPU, ExplainedTask.Multiclass, 3, encoder.Fields, encoder.SequenceLength), tokens);
    });

    [Theory]
    [InlineData(AttributionBaseline.MissingValues)]
    [InlineData(AttributionBaseline.Zero)]
    public void IntegratedGradientsCompletenessGapIsUnderOnePercentWithDefaultSteps(AttributionBaseline baseline)
    {
        var (model, tokens) = Penguins.Value;
        var attributor = new CharacterAttributor(model, new MixerExplainOptions { Baseline = baseline });
        var rows = tokens.Where((_, i) => i % 4 == 0).ToArray(); // 86 rows across the three species
        var batch = attributor.Explain(rows.SelectMany(r => r).ToArray(), rows.Length);
        var relative = new List<double>();
        for (int r = 0; r < rows.Length; r++)
        {
            double change = batch.TargetValues[r] - batch.BaselineValues![r];
            // Rows whose prediction barely moves from the baseline have no meaningful relative gap.
            if (Math.Abs(change) < 1e-2)
                continue;
            relative.Add(Math.Abs(batch.CompletenessGaps![r]) / Math.Abs(change));
        }
        relative.Sort();
        output.WriteLine($"{baseline}: {relative.Count} rows; relative gap median {relative[relative.Count / 2]:E2}, max {relative[^1]:E2}");
        Assert.True(relative.Count > rows.Length / 2, $"only {relative.Count} rows moved away from the baseline");
        Assert.True(relative[^1] < 0.01, $"largest relative completeness gap {relative[^1]:P3}");
    }
}
