using Microsoft.ML;

namespace MLNetMixers.Tests.Encoding;

public class NumberDecileTests
{
    private static IDataView Data(MLContext ml) => EncodingTestHelpers.NumberTable(ml);

    [Fact]
    public void EachNumberStartsWithItsDecileAmongTheFittedValues()
    {
        var ml = new MLContext(seed: 1);
        var data = Data(ml);
        var plain = ml.Transforms.EncodeAsCharacters(new CharacterEncodingOptions { InputColumnNames = ["Value", "Count", "Constant"], NumberDeciles = false, NumberValueTokens = false }).Fit(data);
        var ranked = ml.Transforms.EncodeAsCharacters(new CharacterEncodingOptions { InputColumnNames = ["Value", "Count", "Constant"], NumberDeciles = true, NumberValueTokens = false }).Fit(data);
        // One more position per number field, except the constant column: it has no order to tell.
        Assert.Equal(plain.SequenceLength + 2, ranked.SequenceLength);

        var rows = EncodingTestHelpers.EncodeRows(ranked, data);
        Assert.Equal("000.5", EncodingTestHelpers.FieldText(ranked, rows[0], "Value"));
        Assert.Equal("950.0", EncodingTestHelpers.FieldText(ranked, rows[99], "Value"));
        Assert.Equal("425.0", EncodingTestHelpers.FieldText(ranked, rows[49], "Value"));
        Assert.Equal("9999", EncodingTestHelpers.FieldText(ranked, rows[0], "Count"));
        Assert.Equal("0900", EncodingTestHelpers.FieldText(ranked, rows[99], "Count"));
        Assert.Equal("3", EncodingTestHelpers.FieldText(ranked, rows[0], "Constant"));
        // Missing stays missing in every position, the decile's included.
        var field = ranked.Fields.Single(f => f.Name == "Value");
        Assert.All(rows[100].Skip(field.Start).Take(field.Width), t => Assert.Equal(MLNetMixers.Encoding.ReservedTokens.Missing, t));

        int valueField = ranked.Fields.ToList().FindIndex(f => f.Name == "Value");
        Assert.Equal(24.5, ranked.DecodeNumber(valueField, rows[48]).Value, 6);
    }

    [Fact]
    public void DecilesRoundTripThroughTheModelZip()
    {
        var ml = new MLContext(seed: 1);
        var data = Data(ml);
        var transformer = ml.Transforms.EncodeAsCharacters(new CharacterEncodingOptions { InputColumnNames = ["Value", "Count"], NumberDeciles = true, NumberValueTokens = false }).Fit(data);
        string path = Path.Combine(TestData.NewTempFolder(), "encoder.zip");
        ml.Model.Save(transformer, data.Schema, path);
        var loaded = Assert.IsType<CharacterEncodingTransformer>(new MLContext(seed: 2).Model.Load(path, out _));
        Assert.Equal(transformer.Fields, loaded.Fields);
        Assert.Equal(EncodingTestHelpers.EncodeRows(transformer, data), EncodingTestHelpers.EncodeRows(loaded, data));
    }
}
