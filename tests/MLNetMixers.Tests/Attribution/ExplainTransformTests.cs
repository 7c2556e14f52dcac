using System.Text.RegularExpressions;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetMixers.Attribution;
using Xunit.Abstractions;

namespace MLNetMixers.Tests.Attribution;

/// <summary>The transform's columns and the report's files on the synthetic model.</summary>
public class ExplainTransformTests(ITestOutputHelper output)
{
    private static readonly Lazy<(ExplainedModel Model, CharacterEncodingTransformer Encoder, int[][] Tokens, IDataView Data)> Trained =
        new(() => AttributionTestModels.SyntheticModel());

    [Fact]
    public void TransformAddsCharacterFieldAndGapColumnsThatAgree()
    {
        var trained = Trained.Value;
        var ml = new MLContext(seed: 1);
        var options = new MixerExplainOptions { BatchSize = 64 };
        var transformer = new MixerExplainTransformer(ml, AttributionTestModels.SyntheticPipeline(trained), options);
        var data = ml.Data.TakeRows(trained.Data, 150); // crosses a read-ahead boundary (batches of 64 rows)
        var explained = transformer.Transform(data);

        var schema = explained.Schema;
        Assert.Equal(new VectorDataViewType(NumberDataViewType.Single, trained.Encoder.SequenceLength), schema["CharacterAttributions"].Type);
        Assert.Equal(new VectorDataViewType(NumberDataViewType.Single, trained.Encoder.Fields.Count), schema["FieldAttributions"].Type);
        VBuffer<ReadOnlyMemory<char>> slotNames = default;
        schema["FieldAttributions"].GetSlotNames(ref slotNames);
        Assert.Equal(trained.Encoder.Fields.Select(f => f.Name), slotNames.DenseValues().Select(s => s.ToString()));
        Assert.Equal(schema.ToString(), transformer.GetOutputSchema(data.Schema).ToString());

        var characters = ml.Data.CreateEnumerable<Explained>(explained, reuseRowObject: false).ToArray();
        Assert.Equal(150, characters.Length);
        int worst = 0;
        foreach (var row in characters)
        {
            // Sum aggregation: each field is the sum of its characters; the row total is f(x) - f(baseline) - gap.
            for (int f = 0; f < trained.Encoder.Fields.Count; f++)
            {
                var field = trained.Encoder.Fields[f];
                Assert.Equal(row.CharacterAttributions.Skip(field.Start).Take(field.Width).Sum(), row.FieldAttributions[f], 3);
            }
            double total = Math.Abs(row.FieldAttributions.Sum());
            if (Math.Abs(row.CompletenessGap) > 0.01 * Math.Max(total, 1e-3))
                worst++;
        }
        output.WriteLine($"rows with a completeness gap over 1%: {worst} of {characters.Length}");
        Assert.Equal(0, worst);

        // A second pass over the same view gives the same numbers (no state kept between cursors).
        var again = ml.Data.CreateEnumerable<Explained>(explained, reuseRowObject: false).ToArray();
        Assert.Equal(characters[149].CharacterAttributions, again[149].CharacterAttributions);
    }

    [Fact]
    public void NormalizedMaxAggregationPutsTheTopFieldAtOne()
    {
        var trained = Trained.Value;
        var ml = new MLContext(seed: 1);
        var options = new MixerExplainOptions { Method = AttributionMethod.Occlusion, Aggregation = FieldAggregation.MaxAbsolute, Normalize = true };
        var transformer = new MixerExplainTransformer(ml, AttributionTestModels.SyntheticPipeline(trained), options);
        var explained = transformer.Transform(ml.Data.TakeRows(trained.Data, 20));
        Assert.Null(explained.Schema.GetColumnOrNull("CompletenessGap"));
        foreach (var row in ml.Data.CreateEnumerable<ExplainedNoGap>(explained, reuseRowObject: false))
        {
            Assert.Equal(1f, row.FieldAttributions.Max(), 5);
            Assert.All(row.FieldAttributions, v => Assert.InRange(v, 0f, 1f));
            Assert.Equal(1f, row.CharacterAttributions.Max(Math.Abs), 5);
        }
    }

    [Fact]
    public void BadTargetClassAndWrongEncodedColumnAreReportedClearly()
    {
        var trained = Trained.Value;
        var ml = new MLContext(seed: 1);
        var pipeline = AttributionTestModels.SyntheticPipeline(trained);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new MixerExplainTransformer(ml, pipeline, new MixerExplainOptions { TargetClass = 5 }));
        Assert.Contains("TargetClass 5", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new MixerExplainTransformer(ml, pipeline, new MixerExplainOptions { Steps = 0 }));

        var transformer = new MixerExplainTransformer(ml, pipeline, new MixerExplainOptions());
        var wrong = ml.Data.LoadFromEnumerable([new WrongFeatures { Features = [1f, 2f] }]);
        var ex = Assert.ThrowsAny<Exception>(() => transformer.Transform(wrong));
        Assert.Contains("Features", ex.Message);
        Assert.Throws<NotSupportedException>(() => ((ICanSaveModel)transformer).Save(null!));
    }

    [Fact]
    public void ReportFilesAreWrittenAndWellFormed()
    {
        var trained = Trained.Value;
        var ml = new MLContext(seed: 1);
        var explainer = new MixerExplainer(ml, AttributionTestModels.SyntheticPipeline(trained), new MixerExplainOptions(), seed: 1);
        var report = explainer.CreateReport(trained.Data, rowsShown: 5, maxRows: 60, title: "Synthetic <report>");
        string folder = TestData.NewTempFolder();
        string html = report.Save(folder);

        var fieldCsv = File.ReadAllLines(Path.Combine(folder, AttributionReport.FieldCsvFileName));
        Assert.Equal(1 + trained.Encoder.Fields.Count, fieldCsv.Length);
        Assert.StartsWith("field,rank,mean_abs_attribution", fieldCsv[0]);
        Assert.All(fieldCsv.Skip(1), line => Assert.Equal(9, line.Split(',').Length));
        var characterCsv = File.ReadAllLines(Path.Combine(folder, AttributionReport.CharacterCsvFileName));
        Assert.Equal(1 + 5 * trained.Encoder.SequenceLength, characterCsv.Length);
        // The top two fields of the report are the relevant ones.
        Assert.Equal(AttributionTestModels.RelevantFields.Order(), report.FieldImportance.Take(2).Select(f => f.Field).Order());

        string page = File.ReadAllText(html);
        Assert.Contains("Chart.js v4", page);                       // the library is embedded...
        Assert.DoesNotContain("src=\"http", page);                  // ...and nothing is fetched
        Assert.Contains("<canvas id=\"importance\"", page);
        Assert.Contains("Synthetic &lt;report&gt;", page);
        Assert.DoesNotContain("<b>&", page);                        // the city value "<b>&" is escaped character by character
        Assert.Contains("&lt;", page);
        int shaded = Regex.Matches(page, "<span class=\"ch\" style=\"background:rgba\\(").Count;
        Assert.Equal(5 * trained.Encoder.SequenceLength, shaded);
        Assert.Equal(5 * trained.Encoder.Fields.Count, Regex.Matches(page, "<span class=\"field\" data-field=").Count);
        Assert.Equal(5, Regex.Matches(page, "class=\"pred\"").Count);
        output.WriteLine(html);
    }

    private sealed class Explained
    {
        public float[] CharacterAttributions { get; set; } = [];
        public float[] FieldAttributions { get; set; } = [];
        public float CompletenessGap { get; set; }
    }

    private sealed class ExplainedNoGap
    {
        public float[] CharacterAttributions { get; set; } = [];
        public float[] FieldAttributions { get; set; } = [];
    }

    private sealed class WrongFeatures
    {
        [VectorType(2)]
        public float[] Features { get; set; } = [];
    }
}
