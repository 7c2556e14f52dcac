using Microsoft.Data.Analysis;
using Microsoft.ML;

namespace MLNetMixers.Tests.Encoding;

/// <summary>
/// The paper layout against rows worked out by hand from the seed code's rules (blbadger/small-language-models,
/// data_formatter.py): pandas reads the CSV, str() of each value cut to 4 characters, left-padded with '_', missing
/// as "____", joined with '_'.
/// </summary>
public class PaperCompatibleTests
{
    private static CharacterEncodingTransformer Fit(MLContext ml, IDataView data, string label) =>
        ml.Transforms.EncodeAsCharacters(new CharacterEncodingOptions
        {
            Layout = CharacterEncodingLayout.PaperCompatible,
            ExcludedColumns = [label],
            EncodedTextColumnName = "Encoded",
        }).Fit(data);

    [Fact]
    public void CreditDataRowsMatchTheSeedFormat()
    {
        var ml = new MLContext(seed: 1);
        var frame = DataFrame.LoadCsv(TestData.Tabular("credit_data.csv"));
        var transformer = Fit(ml, frame, "Status");
        var text = EncodingTestHelpers.ReadText(transformer.Transform(frame), "Encoded");

        // good,9,rent,60,30,married,no,freelance,73,129,0,0,800,846 (Status is the label).
        // Seniority has no missing value, so pandas reads int64: "9". Income, Assets and Debt have missing values
        // elsewhere in the file, so pandas reads float64: "129.0", "0.0". The seed code would also have blanked
        // Records="no" (its "starts with n" fault); this layout keeps it.
        Assert.Equal("___9_rent___60___30_marr___no_free___73_129.__0.0__0.0__800__846", text[0]);
        // good,17,rent,60,58,widow,no,fixed,48,131,0,0,1000,1658
        Assert.Equal("__17_rent___60___58_wido___no_fixe___48_131.__0.0__0.0_1000_1658", text[1]);
        Assert.Equal(13 * 4 + 12, transformer.SequenceLength);

        // Padding, separators and missing values are the one character '_' (the paper's one-hot alphabet held '_' once).
        var rows = EncodingTestHelpers.EncodeRows(transformer, frame);
        int underscore = transformer.TokenOf('_');
        Assert.Equal(text[0].Select(c => transformer.TokenOf(c)), rows[0]);
        Assert.Equal(Enumerable.Range(0, 3).Select(_ => underscore), rows[0].Take(3));
    }

    [Fact]
    public void PenguinsRowsWithMissingValuesMatchTheSeedFormat()
    {
        var ml = new MLContext(seed: 1);
        var frame = DataFrame.LoadCsv(TestData.Tabular("penguins.csv"));
        var text = EncodingTestHelpers.ReadText(Fit(ml, frame, "species").Transform(frame), "Encoded");
        // Adelie,Torgersen,39.1,18.7,181,3750,male: every numeric column has a missing value, so all are float64.
        Assert.Equal("Torg_39.1_18.7_181._3750_male", text[0]);
        // Adelie,Torgersen,40.3,18,195,3250,female: 18 prints as "18.0".
        Assert.Equal("Torg_40.3_18.0_195._3250_fema", text[2]);
        // Adelie,Torgersen,,,,,: every missing field is "____".
        Assert.Equal("Torg" + string.Concat(Enumerable.Repeat("_____", 5)), text[3]);
    }

    private sealed class FaultRow
    {
        public double Fare { get; set; }
        public long Count { get; set; }
        public string? Answer { get; set; }
    }

    [Fact]
    public void ThePaperLayoutKeepsTheSeedsCutsButNotItsNBlanking()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(new[]
        {
            new FaultRow { Fare = 71.2833, Count = 12345, Answer = "no" },
            new FaultRow { Fare = 7.25, Count = 7, Answer = "NA" },
        });
        var transformer = ml.Transforms.EncodeAsCharacters(new CharacterEncodingOptions
        {
            Layout = CharacterEncodingLayout.PaperCompatible,
            EncodedTextColumnName = "Encoded",
        }).Fit(data);
        var text = EncodingTestHelpers.ReadText(transformer.Transform(data), "Encoded");
        // The seeds' documented faults, reproduced: cut not rounded, magnitude lost, place values misaligned.
        Assert.Equal("71.2_1234___no", text[0]);
        // "NA" is pandas' missing value; "no" is not blanked.
        Assert.Equal("7.25____7_____", text[1]);

        // The fitted layout fixes all three (shown with every learned decimal: two rows span 64.03, which the default MaxRangeDigits would write with 2;
        // text as characters, not as a category token).
        var fitted = ml.Transforms.EncodeAsCharacters(new CharacterEncodingOptions { EncodedTextColumnName = "Encoded", NumberDeciles = false, NumberValueTokens = false, MaxRangeDigits = null, MaxCategories = 0 }).Fit(data);
        var better = EncodingTestHelpers.ReadText(fitted.Transform(data), "Encoded");
        Assert.Equal("71.283312345no", better[0]);
        Assert.Equal("07.250000007NA", better[1]);
    }
}
