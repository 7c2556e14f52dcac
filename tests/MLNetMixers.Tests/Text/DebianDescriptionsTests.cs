using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetMixers.Tests.Text;

/// <summary>The Debian package descriptions (RFC 4180 CSV, quoted fields spanning lines) train through the estimator.</summary>
public class DebianDescriptionsTests
{
    private sealed class PackageRow
    {
        [LoadColumn(0)] public string Package { get; set; } = "";
        [LoadColumn(2)] public string Description { get; set; } = "";
    }

    [Fact]
    public void TextLoaderReadsQuotedMultiLineDescriptionsAndTheEstimatorTrainsOnThem()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromTextFile<PackageRow>(TestData.Text("debian-descriptions.csv"), new TextLoader.Options
        {
            Separators = [','],
            HasHeader = true,
            AllowQuoting = true,
            ReadMultilines = true,
        });
        var rows = ml.Data.CreateEnumerable<PackageRow>(data, reuseRowObject: false).ToList();

        // One row per package, however many lines its description spans.
        Assert.InRange(rows.Count, 45_000, 50_000);
        var first = rows[0];
        Assert.Equal("0ad", first.Package);
        Assert.StartsWith("0 A.D. (pronounced \"zero ey-dee\") is a free", first.Description);   // "" unescaped
        Assert.Contains(rows, r => r.Description.Contains('\n'));
        Assert.DoesNotContain(rows, r => r.Package.Contains('\n') || r.Package.Contains(' '));   // no field shifted by a line break

        var options = TextTestHelpers.TinyOptions();
        options.Tokenization = TextTokenization.Subwords;
        options.SubwordVocabularySize = 512;
        options.Steps = 20;
        var slice = ml.Data.TakeRows(data, 400);
        using var model = ml.Transforms.Text.TrainMixerLanguageModel(nameof(PackageRow.Description), options).Fit(slice);
        var metrics = model.Evaluate(ml.Data.SkipRows(data, 40_000), nameof(PackageRow.Description));
        Assert.True(double.IsFinite(metrics.BitsPerByte) && metrics.BitsPerByte < 8, $"{metrics.BitsPerByte} bits per byte after 20 steps");
    }
}
