using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetMixers.Tests.Text;

namespace MLNetMixers.Tests.Compression;

/// <summary>The surprisal transform (catalog entry, save/load), its agreement with the model's own evaluation, and the HTML report.</summary>
public class SurprisalTests : IClassFixture<CompressionFixture>
{
    private readonly CompressionFixture models;

    public SurprisalTests(CompressionFixture models)
    {
        this.models = models;
        TorchSharp.torch.set_num_threads(1);
    }

    private sealed class Row
    {
        public string Text { get; set; } = "";
    }

    private sealed class Scored
    {
        [VectorType]
        public float[] Surprisal { get; set; } = [];

        public float BitsPerByte { get; set; }
    }

    [Fact]
    public void TransformAddsBitsPerTokenAndBitsPerByteThatSurviveSaveAndLoad()
    {
        var ml = new MLContext(1);
        string[] texts = [.. TextTestHelpers.FortuneDocuments(3, skip: 400), ""];
        var data = ml.Data.LoadFromEnumerable(texts.Select(t => new Row { Text = t }));
        var transformer = ml.Transforms.Text.ComputeSurprisal(models.Characters, "Text").Fit(data);
        var rows = ml.Data.CreateEnumerable<Scored>(transformer.Transform(data), reuseRowObject: false).ToList();

        for (int i = 0; i < texts.Length; i++)
        {
            var expected = models.Characters.MeasureSurprisal(texts[i]);
            Assert.Equal(texts[i].Length, rows[i].Surprisal.Length); // one token per character
            Assert.Equal(expected.Bits, rows[i].Surprisal);
            Assert.All(rows[i].Surprisal, b => Assert.True(b >= 0 && float.IsFinite(b)));
            if (texts[i].Length > 0)
                Assert.Equal(rows[i].Surprisal.Sum() / System.Text.Encoding.UTF8.GetByteCount(texts[i]), rows[i].BitsPerByte, 3);
        }
        Assert.True(float.IsNaN(rows[^1].BitsPerByte));

        string path = Path.Combine(TestData.NewTempFolder(), "surprisal.zip");
        ml.Model.Save(transformer, data.Schema, path);
        var loaded = ml.Model.Load(path, out _);
        var reloaded = ml.Data.CreateEnumerable<Scored>(loaded.Transform(data), reuseRowObject: false).ToList();
        for (int i = 0; i < texts.Length; i++)
            Assert.Equal(rows[i].Surprisal, reloaded[i].Surprisal);
    }

    [Fact]
    public void TotalSurprisalOfAShortDocumentIsTheModelsEvaluatedLoss()
    {
        // Within one context window surprisal is the model's cross-entropy: Evaluate counts the same tokens plus the closing end of text.
        string text = TextTestHelpers.FortuneDocuments(1, skip: 410)[0][..25];
        var surprisal = models.Characters.MeasureSurprisal(text);
        var metrics = models.Characters.Evaluate([text]);
        Assert.Equal(text.Length + 1, metrics.Tokens);
        double evaluatedBits = metrics.Loss * metrics.Tokens / Math.Log(2);
        Assert.InRange(surprisal.TotalBits, 0.5 * evaluatedBits, evaluatedBits); // minus the end of text's bits
        Assert.True(evaluatedBits - surprisal.TotalBits < 20, $"{evaluatedBits} vs {surprisal.TotalBits}");
    }

    [Fact]
    public void SchemaErrorsNameTheColumn()
    {
        var ml = new MLContext(1);
        var data = ml.Data.LoadFromEnumerable(new[] { new { Number = 1f } });
        var estimator = ml.Transforms.Text.ComputeSurprisal(models.Characters, "Text");
        Assert.Contains("Text", Assert.ThrowsAny<ArgumentException>(() => estimator.Fit(data)).Message);
        Assert.Throws<ArgumentException>(() => ml.Transforms.Text.ComputeSurprisal(models.Characters, "Text", "Same", "Same"));
    }

    [Fact]
    public void ReportShadesCostlierPiecesDarkerAndEscapesTheText()
    {
        string text = "the <b>zq</b> & the";
        var surprisal = models.Characters.MeasureSurprisal(text);
        Assert.Equal(text, string.Concat(surprisal.Spans.Select(s => s.Text)));
        string html = new SurprisalReport("Report <1>", [("doc", surprisal)]).ToHtml();
        Assert.Contains(">&lt;</span>", html);
        Assert.Contains(">&amp;</span>", html);
        Assert.DoesNotContain("<b>zq", html);
        Assert.Contains("Report &lt;1&gt;", html);
        var shades = System.Text.RegularExpressions.Regex.Matches(html, "rgba\\(214,39,40,([0-9.]+)\\)\" title=\"[0-9.]+ bits\" data-bits=\"([0-9.E+-]+)\"")
            .Select(m => (Alpha: double.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture),
                          Bits: double.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture)))
            .ToList();
        Assert.Equal(surprisal.Spans.Count, shades.Count);
        var cheapest = shades.MinBy(s => s.Bits);
        var costliest = shades.MaxBy(s => s.Bits);
        Assert.True(costliest.Alpha > cheapest.Alpha, $"{costliest} vs {cheapest}");
    }
}
