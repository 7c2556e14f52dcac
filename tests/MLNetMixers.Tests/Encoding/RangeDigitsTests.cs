using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetMixers.Tests.Encoding;

public class RangeDigitsTests
{
    private sealed class Row
    {
        /// <summary>A time of day in hours, as hpc_data stores it: 13 h 49 min is 13.8166666666667.</summary>
        public double Hour { get; set; }

        /// <summary>A narrow-range coordinate: four decimals are only about 1,000 steps across its range.</summary>
        public float Longitude { get; set; }
    }

    private static IDataView Data(MLContext ml) => ml.Data.LoadFromEnumerable(Enumerable.Range(0, 24 * 60).Where(m => m % 7 == 0)
        .Select(m => new Row { Hour = m / 60.0, Longitude = -93.69f + m * 0.0001f }).ToList());

    [Fact]
    public void DecimalsFinerThanTenThousandStepsAcrossTheRangeAreDropped()
    {
        var ml = new MLContext(seed: 1);
        var data = Data(ml);
        var capped = ml.Transforms.EncodeAsCharacters(new CharacterEncodingOptions { InputColumnNames = ["Hour", "Longitude"], NumberDeciles = false, NumberValueTokens = false }).Fit(data);
        var uncapped = ml.Transforms.EncodeAsCharacters(new CharacterEncodingOptions { InputColumnNames = ["Hour", "Longitude"], NumberDeciles = false, NumberValueTokens = false, MaxRangeDigits = null }).Fit(data);

        // Row 118 is minute 826 = 13:46, hour 13.7666...: the range 0-24 at 2 decimals is 2,400 steps, at 3 it would be 24,000.
        Assert.Equal("13.77", EncodingTestHelpers.FieldText(capped, EncodingTestHelpers.EncodeRows(capped, data)[118], "Hour"));
        Assert.Equal("13.7667", EncodingTestHelpers.FieldText(uncapped, EncodingTestHelpers.EncodeRows(uncapped, data)[118], "Hour"));
        // The coordinate spans 0.1433 at 4 decimals: 1,433 steps, so it keeps them all.
        Assert.Equal(
            EncodingTestHelpers.FieldText(uncapped, EncodingTestHelpers.EncodeRows(uncapped, data)[118], "Longitude"),
            EncodingTestHelpers.FieldText(capped, EncodingTestHelpers.EncodeRows(capped, data)[118], "Longitude"));
        Assert.Equal("-93.6074", EncodingTestHelpers.FieldText(capped, EncodingTestHelpers.EncodeRows(capped, data)[118], "Longitude"));
    }

    [Fact]
    public void AnExplicitDecimalsOverrideWinsOverTheRangeCap()
    {
        var ml = new MLContext(seed: 1);
        var data = Data(ml);
        var transformer = ml.Transforms.EncodeAsCharacters(new CharacterEncodingOptions
        {
            InputColumnNames = ["Hour"],
            NumberDeciles = false, NumberValueTokens = false,
            ColumnOverrides = [new CharacterEncodingColumnOverride { Name = "Hour", Decimals = 3 }],
        }).Fit(data);
        Assert.Equal("13.767", EncodingTestHelpers.FieldText(transformer, EncodingTestHelpers.EncodeRows(transformer, data)[118], "Hour"));
    }

    [Fact]
    public void ARangeCapBelowOneIsRejectedNamingTheOption()
    {
        var ml = new MLContext(seed: 1);
        var error = Assert.ThrowsAny<ArgumentException>(() => ml.Transforms.EncodeAsCharacters(new CharacterEncodingOptions { MaxRangeDigits = 0 }));
        Assert.Contains(nameof(CharacterEncodingOptions.MaxRangeDigits), error.Message);
    }
}
