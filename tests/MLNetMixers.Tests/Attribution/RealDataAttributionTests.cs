using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetMixers.Attribution;
using MLNetMixers.Tests.Encoding;

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

    [Theory]
    [InlineData(AttributionBaseline.MissingValues)]
    [InlineData(AttributionBaseline.Zero)]
    public void IntegratedGradientsCompletenessGapIsUnderOnePercentWithDefaultSteps(AttributionBaseline baseline)
    {
        var fit = AttributionTestModels.Penguins.Value;
        var (model, tokens) = (fit.Pipeline.Network, fit.Tokens);
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

/// <summary>The public surface on penguins: ranking beside permutation importance, and a model loaded from a zip.</summary>
public class PenguinExplainerTests(ITestOutputHelper output)
{
    [Fact]
    public void FieldRankingAgreesWithRawColumnPermutationImportance()
    {
        var fit = AttributionTestModels.Penguins.Value;
        var explainer = fit.Ml.Transforms.CreateMixerExplainer(fit.Model);
        var attribution = explainer.FieldImportance(fit.Data, maxRows: 344);
        var permutation = explainer.PermutationImportance(fit.Data, "Label", permutations: 3);

        output.WriteLine($"{"field",-20} {"mean |IG|",10} {"std",8}   {"column",-20} {"drop in " + explainer.MetricName,24} {"std",8}");
        for (int i = 0; i < attribution.Count; i++)
            output.WriteLine($"{attribution[i].Field,-20} {attribution[i].Mean,10:F3} {attribution[i].StandardDeviation,8:F3}   {permutation[i].Field,-20} {permutation[i].Mean,24:F3} {permutation[i].StandardDeviation,8:F3}");

        var attributionRank = attribution.Select(f => f.Field).ToList();
        var permutationRank = permutation.Select(f => f.Field).ToList();
        double rho = Spearman(attributionRank, permutationRank);
        output.WriteLine($"Spearman rank correlation: {rho:F2}");
        // The two measures answer different questions (local path integral vs. global metric drop), so ask for
        // agreement on what matters most: the top attribution field is among permutation's top two, and vice versa,
        // and the rankings correlate positively.
        Assert.Contains(attributionRank[0], permutationRank.Take(2));
        Assert.Contains(permutationRank[0], attributionRank.Take(2));
        Assert.True(rho > 0.3, $"Spearman rank correlation {rho:F2}");
        Assert.All(permutation, p => Assert.Equal(3, p.Count));
    }

    [Fact]
    public void AModelLoadedFromAZipExplainsIdentically()
    {
        var fit = AttributionTestModels.Penguins.Value;
        string path = Path.Combine(TestData.NewTempFolder(), "penguins.zip");
        fit.Ml.Model.Save(fit.Model, fit.Data.Schema, path);
        var fresh = new MLContext(seed: 5);
        var loaded = fresh.Model.Load(path, out _);

        var options = new MixerExplainOptions { Method = AttributionMethod.IntegratedGradients, Steps = 16 };
        var rows = fit.Ml.Data.TakeRows(fit.Data, 40);
        var before = Read(fit.Ml, fit.Ml.Transforms.ExplainMixer(fit.Model, options).Fit(rows).Transform(rows));
        var after = Read(fresh, fresh.Transforms.ExplainMixer(loaded, options).Fit(rows).Transform(rows));
        Assert.Equal(before.Length, after.Length);
        for (int r = 0; r < before.Length; r++)
        {
            Assert.Equal(before[r].PredictedLabel, after[r].PredictedLabel);
            for (int f = 0; f < before[r].FieldAttributions.Length; f++)
                Assert.Equal(before[r].FieldAttributions[f], after[r].FieldAttributions[f], 1e-4);
        }
        File.Delete(path);
    }

    private static ExplainedPenguin[] Read(MLContext ml, IDataView data) => ml.Data.CreateEnumerable<ExplainedPenguin>(data, reuseRowObject: false).ToArray();

    private static double Spearman(List<string> a, List<string> b)
    {
        int n = a.Count;
        double d2 = a.Select((name, i) => Math.Pow(i - b.IndexOf(name), 2)).Sum();
        return 1 - 6 * d2 / (n * (n * (double)n - 1));
    }

    private sealed class ExplainedPenguin
    {
        public uint PredictedLabel { get; set; }
        public float[] FieldAttributions { get; set; } = [];
    }
}
