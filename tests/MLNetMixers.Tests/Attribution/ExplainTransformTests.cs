using System.Text.RegularExpressions;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetMixers.Attribution;

namespace MLNetMixers.Tests.Attribution;

/// <summary>The transform's columns and the report's files on the synthetic model.</summary>
public class ExplainTransformTests(ITestOutputHelper output)
{
    [Fact]
    public void TransformAddsCharacterFieldAndGapColumnsThatAgree()
    {
        var trained = AttributionTestModels.Synthetic1500.Value;
        var ml = trained.Ml;
        var encoder = trained.Pipeline.Encoder;
        var options = new MixerExplainOptions { BatchSize = 64 };
        var data = ml.Data.TakeRows(trained.Data, 150); // crosses a read-ahead boundary (batches of 64 rows)
        var transformer = ml.Transforms.ExplainMixer(trained.Model, options).Fit(data);
        var explained = transformer.Transform(data);

        var schema = explained.Schema;
        Assert.Equal(new VectorDataViewType(NumberDataViewType.Single, encoder.SequenceLength), schema["CharacterAttributions"].Type);
        Assert.Equal(new VectorDataViewType(NumberDataViewType.Single, encoder.Fields.Count), schema["FieldAttributions"].Type);
        VBuffer<ReadOnlyMemory<char>> slotNames = default;
        schema["FieldAttributions"].GetSlotNames(ref slotNames);
        Assert.Equal(encoder.Fields.Select(f => f.Name), slotNames.DenseValues().Select(s => s.ToString()));
        Assert.Equal(schema.ToString(), transformer.GetOutputSchema(data.Schema).ToString());

        var characters = ml.Data.CreateEnumerable<Explained>(explained, reuseRowObject: false).ToArray();
        Assert.Equal(150, characters.Length);
        int worst = 0;
        foreach (var row in characters)
        {
            // Sum aggregation: each field is the sum of its characters; the row total is f(x) - f(baseline) - gap.
            for (int f = 0; f < encoder.Fields.Count; f++)
            {
                var field = encoder.Fields[f];
                Assert.Equal(row.CharacterAttributions.Skip(field.Start).Take(field.Width).Sum(), row.FieldAttributions[f], 1e-3);
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
        var trained = AttributionTestModels.Synthetic1500.Value;
        var ml = trained.Ml;
        var encoder = trained.Pipeline.Encoder;
        var options = new MixerExplainOptions { Method = AttributionMethod.Occlusion, Aggregation = FieldAggregation.MaxAbsolute, Normalize = true };
        var explained = ml.Transforms.ExplainMixer(trained.Model, options).Fit(trained.Data).Transform(ml.Data.TakeRows(trained.Data, 20));
        Assert.Null(explained.Schema.GetColumnOrNull("CompletenessGap"));
        foreach (var row in ml.Data.CreateEnumerable<ExplainedNoGap>(explained, reuseRowObject: false))
        {
            Assert.Equal(1f, row.FieldAttributions.Max(), 1e-5);
            Assert.All(row.FieldAttributions, v => Assert.InRange(v, 0f, 1f));
            Assert.Equal(1f, row.CharacterAttributions.Max(Math.Abs), 1e-5);
        }
    }

    [Fact]
    public void BadTargetClassAndWrongEncodedColumnAreReportedClearly()
    {
        var trained = AttributionTestModels.Synthetic1500.Value;
        var ml = trained.Ml;
        var encoder = trained.Pipeline.Encoder;
        var e = Assert.ThrowsAny<ArgumentException>(() => ml.Transforms.ExplainMixer(trained.Model, new MixerExplainOptions { TargetClass = 5 }));
        Assert.Contains("TargetClass 5", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.ExplainMixer(trained.Model, new MixerExplainOptions { Steps = 0 }));

        // A pipeline without the predictor, or without the encoder, is named as such.
        var chain = (IEnumerable<ITransformer>)trained.Model;
        var noPredictor = Assert.Throws<ArgumentException>(() => ml.Transforms.ExplainMixer(chain.First()));
        Assert.Contains("MixerPredictionTransformer", noPredictor.Message);
        var noEncoder = Assert.Throws<ArgumentException>(() => ml.Transforms.ExplainMixer(chain.Last()));
        Assert.Contains("CharacterEncodingTransformer", noEncoder.Message);

        var transformer = ml.Transforms.ExplainMixer(trained.Model).Fit(trained.Data);
        var wrong = ml.Data.LoadFromEnumerable([new WrongFeatures { Features = [1f, 2f] }]);
        var ex = Assert.ThrowsAny<Exception>(() => transformer.Transform(wrong));
        Assert.Contains("Features", ex.Message);
        Assert.Throws<NotSupportedException>(() => ((ICanSaveModel)transformer).Save(null!));
    }

    [Fact]
    public void ReportFilesAreWrittenAndWellFormed()
    {
        var trained = AttributionTestModels.Synthetic1500.Value;
        var ml = trained.Ml;
        var encoder = trained.Pipeline.Encoder;
        var explainer = ml.Transforms.CreateMixerExplainer(trained.Model);
        var report = explainer.CreateReport(trained.Data, rowsShown: 5, maxRows: 60, labelColumnName: "Label", permutations: 2, title: "Synthetic <report>");
        string folder = TestData.NewTempFolder();
        string html = report.Save(folder);

        var fieldCsv = File.ReadAllLines(Path.Combine(folder, AttributionReport.FieldCsvFileName));
        Assert.Equal(1 + encoder.Fields.Count, fieldCsv.Length);
        Assert.StartsWith("field,rank,mean_abs_attribution", fieldCsv[0]);
        Assert.All(fieldCsv.Skip(1), line => Assert.Equal(9, line.Split(',').Length));
        var characterCsv = File.ReadAllLines(Path.Combine(folder, AttributionReport.CharacterCsvFileName));
        Assert.Equal(1 + 5 * encoder.SequenceLength, characterCsv.Length);
        // The top two fields of the report are the relevant ones.
        Assert.Equal(AttributionTestModels.RelevantFields.Order(), report.FieldImportance.Take(2).Select(f => f.Field).Order());

        string page = File.ReadAllText(html);
        Assert.Contains("Chart.js v4", page);                       // the library is embedded...
        Assert.DoesNotContain("src=\"http", page);                  // ...and nothing is fetched
        Assert.Contains("<canvas id=\"importance\"", page);
        Assert.Contains("<canvas id=\"permutation\"", page);
        Assert.Equal("AUC", report.PermutationMetric);
        // Permutation importance agrees on the relevant columns.
        Assert.Equal(AttributionTestModels.RelevantFields.Order(), report.PermutationImportance!.Take(2).Select(f => f.Field).Order());
        Assert.Contains("Synthetic &lt;report&gt;", page);
        Assert.DoesNotContain("<b>&", page);                        // the city value "<b>&" is escaped character by character
        Assert.Contains("&lt;", page);
        int shaded = Regex.Matches(page, "<span class=\"ch\" style=\"background:rgba\\(").Count;
        Assert.Equal(5 * encoder.SequenceLength, shaded);
        Assert.Equal(5 * encoder.Fields.Count, Regex.Matches(page, "<span class=\"field\" data-field=").Count);
        Assert.Equal(5, Regex.Matches(page, "class=\"pred\"").Count);

        // Each shown row lists every field's raw value (as the data holds it) beside its attribution.
        var source = AttributionTestModels.Synthetic(1500, seed: 7);
        var incomes = Regex.Matches(page, "<tr data-field=\"Income\"><td>Income</td><td class=\"value\">([^<]*)</td>").Select(m => m.Groups[1].Value).ToArray();
        Assert.Equal(source.Take(5).Select(r => r.Income.ToString(System.Globalization.CultureInfo.InvariantCulture)), incomes);
        var cities = Regex.Matches(page, "<tr data-field=\"City\"><td>City</td><td class=\"value\">([^<]*)</td>").Select(m => System.Net.WebUtility.HtmlDecode(m.Groups[1].Value)).ToArray();
        Assert.Equal(source.Take(5).Select(r => r.City), cities);
        Assert.Equal(5 * encoder.Fields.Count, Regex.Matches(page, "<td class=\"value\">").Count);
        Assert.StartsWith("row,prediction,position,field,character,score,value", characterCsv[0]);
        var incomeLine = characterCsv.Skip(1).First(l => l.StartsWith("0,", StringComparison.Ordinal) && l.Contains(",Income,", StringComparison.Ordinal));
        Assert.EndsWith("," + incomes[0], incomeLine);
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
