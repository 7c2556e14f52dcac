using Microsoft.Data.Analysis;
using Microsoft.ML;
using MLNetMixers.Encoding;

namespace MLNetMixers.Tests.Encoding;

/// <summary>Shared CSVs with mixed types and missing values, read with DataFrame.LoadCsv, encode and read back.</summary>
public class RealDataEncodingTests
{
    [Theory]
    [InlineData("credit_data.csv", "Status")]
    [InlineData("penguins_raw.csv", "Species")]
    [InlineData("weka_soybean.csv", "class")]
    [InlineData("ames.csv", "Sale_Price")]
    [InlineData("wa_churn.csv", "churn")]
    public void DataFrameEncodesAndEveryFieldReadsBack(string file, string label)
    {
        var ml = new MLContext(seed: 1);
        var frame = DataFrame.LoadCsv(TestData.Tabular(file));
        var transformer = ml.Transforms.EncodeAsCharacters(new CharacterEncodingOptions
        {
            ExcludedColumns = [label],
            MissingTextValues = ["", "NA"],
        }).Fit(frame);

        Assert.Equal(frame.Columns.Count - 1, transformer.Fields.Count);
        var keys = EncodingTestHelpers.ReadKeys(transformer.Transform(frame));
        Assert.Equal(frame.Rows.Count, keys.Length);
        Assert.All(keys, row =>
        {
            Assert.Equal(transformer.SequenceLength, row.Length);
            // Keys 1..V only (never ML.NET's missing key 0), and nothing unknown on the data the layout was fitted on.
            Assert.All(row, k => Assert.InRange(k, 1u, (uint)transformer.VocabularySize));
            Assert.DoesNotContain((uint)ReservedTokens.Unknown + 1, row);
        });

        var rows = EncodingTestHelpers.EncodeRows(transformer, frame);
        long missingCells = 0;
        for (int f = 0; f < transformer.Fields.Count; f++)
        {
            var field = transformer.Fields[f];
            var column = frame.Columns[field.SourceColumn];
            var valueTokens = new List<(float Value, int Token)>();
            for (int r = 0; r < rows.Length; r++)
            {
                var slice = rows[r].AsSpan(field.Start, field.Width);
                object? value = column[r];
                bool missing = value is null || (value is string s && (s.Length == 0 || s == "NA")) || (value is float x && float.IsNaN(x));
                if (missing)
                {
                    missingCells++;
                    Assert.True(slice.ToArray().All(t => t == ReservedTokens.Missing), $"{file} row {r} field {field.Name}: missing value not encoded as missing");
                    continue;
                }
                switch (value)
                {
                    case float number when transformer.TokenText(slice[0]).StartsWith("<value "):
                        valueTokens.Add((number, slice[0]));
                        break;
                    case float number:
                        var decoded = transformer.DecodeNumber(f, rows[r]);
                        Assert.Equal(DecodedNumberKind.Value, decoded.Kind);
                        Assert.True(Math.Abs(decoded.Value - number) <= transformer.NumberPrecision(f) * 1.0001 + 1e-6 * Math.Abs(number),
                            $"{file} row {r} field {field.Name}: {number} decoded as {decoded.Value}");
                        break;
                    case string text when transformer.TokenText(slice[0]).StartsWith(field.Name + "="):
                        // A category field: one token whose key value names the field and the value.
                        Assert.Equal(1, field.Width);
                        Assert.Equal($"{field.Name}={text}", transformer.TokenText(slice[0]));
                        break;
                    case string text:
                        string expected = text[..Math.Min(text.Length, field.Width)];
                        Assert.Equal(expected, EncodingTestHelpers.FieldText(transformer, rows[r], field.Name)[..expected.Length]);
                        break;
                    case DateTime date:
                        Assert.StartsWith(date.ToString("yyyyMMdd"), EncodingTestHelpers.FieldText(transformer, rows[r], field.Name));
                        break;
                    case bool flag:
                        Assert.Equal(flag ? "T" : "F", EncodingTestHelpers.FieldText(transformer, rows[r], field.Name));
                        break;
                    default:
                        Assert.Fail($"{file}: unexpected DataFrame value type {value!.GetType()} in {field.Name}");
                        break;
                }
            }
            // A value token reads back as an order: a larger value never gets a smaller token.
            var ordered = valueTokens.OrderBy(v => v.Value).ToList();
            for (int i = 1; i < ordered.Count; i++)
                Assert.True(ordered[i].Token >= ordered[i - 1].Token,
                    $"{file} field {field.Name}: {ordered[i].Value} got a smaller value token than {ordered[i - 1].Value}");
        }
        if (file != "ames.csv")
            Assert.True(missingCells > 0, $"{file} has missing cells; none were seen");
    }

    [Fact]
    public void PenguinsRawDatesAndFreeTextGetTheirOwnLayouts()
    {
        var ml = new MLContext(seed: 1);
        var frame = DataFrame.LoadCsv(TestData.Tabular("penguins_raw.csv"));
        var transformer = ml.Transforms.EncodeAsCharacters(new CharacterEncodingOptions { ExcludedColumns = ["Species"], MaxTextWidth = 12, MaxCategories = 0 }).Fit(frame);
        var date = transformer.Fields.Single(f => f.Name == "Date Egg");
        Assert.Equal(EncodedFieldKind.Date, date.Kind);
        Assert.Equal(8, date.Width); // dates without a time of day: yyyyMMdd
        var comments = transformer.Fields.Single(f => f.Name == "Comments");
        Assert.Equal(12, comments.Width); // free text cut at the cap
        var rows = EncodingTestHelpers.EncodeRows(transformer, frame);
        Assert.Equal("20071111", EncodingTestHelpers.FieldText(transformer, rows[0], "Date Egg"));
        Assert.Equal("Not enough b", EncodingTestHelpers.FieldText(transformer, rows[0], "Comments"));
        Assert.Equal("39.1", EncodingTestHelpers.FieldText(transformer, rows[0], "Culmen Length (mm)"));
    }
}
