using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetMixers.Encoding;
using MLNetMixers.Tests.Trainers;

namespace MLNetMixers.Tests.Encoding;

/// <summary>Text fields with few distinct values written as one category token (<see cref="CharacterEncodingOptions.MaxCategories"/>).</summary>
public class CategoryTokenTests
{
    private sealed class Row
    {
        public string? Color { get; set; }
        public string Name { get; set; } = "";
        public float Size { get; set; }
        public bool Label { get; set; }
    }

    /// <summary>Color: red 3 times, blue twice, green once, one missing; Name: 70 distinct values; Size: a number.</summary>
    private static List<Row> Rows()
    {
        string?[] colors = ["red", "blue", "red", null, "green", "blue", "red"];
        return Enumerable.Range(0, 70).Select(i => new Row { Color = colors[i % colors.Length], Name = $"name{i}", Size = i * 0.5f }).ToList();
    }

    private static CharacterEncodingTransformer Fit(MLContext ml, IDataView data, int maxCategories = 64, params CharacterEncodingColumnOverride[] overrides)
        => ml.Transforms.EncodeAsCharacters(new CharacterEncodingOptions
        {
            InputColumnNames = ["Color", "Name", "Size"],
            MaxCategories = maxCategories,
            ColumnOverrides = overrides,
        }).Fit(data);

    [Fact]
    public void FewValuesBecomeOneTokenEachAndManyStayCharacters()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(Rows());
        var transformer = Fit(ml, data);
        var color = transformer.Fields.Single(f => f.Name == "Color");
        var name = transformer.Fields.Single(f => f.Name == "Name");
        Assert.Equal(1, color.Width);
        Assert.Equal(EncodedFieldKind.Text, color.Kind);
        Assert.Equal("name69".Length, name.Width);  // 70 distinct values > 64: characters

        var rows = EncodingTestHelpers.EncodeRows(transformer, data);
        // Most frequent first: red, blue, green, each its own id with a key value naming field and value.
        int red = rows[0][color.Start], blue = rows[1][color.Start], green = rows[4][color.Start];
        Assert.Equal([red, red + 1, red + 2], [red, blue, green]);
        Assert.Equal("Color=red", transformer.TokenText(red));
        Assert.Equal("Color=green", transformer.TokenText(green));
        Assert.Equal(ReservedTokens.Missing, rows[3][color.Start]);
        Assert.Equal("name1", EncodingTestHelpers.FieldText(transformer, rows[1], "Name")[..5]);
        // Value tokens stay the vocabulary's last ids, after the categories (the models rely on it).
        Assert.StartsWith("<value ", transformer.TokenText(transformer.VocabularySize - 1));
        Assert.StartsWith("<value ", transformer.TokenText(rows[0][transformer.Fields.Single(f => f.Name == "Size").Start]));

        // A value not seen at fit time is unknown, never another category.
        var later = ml.Data.LoadFromEnumerable(new[] { new Row { Color = "purple", Name = "x" } });
        Assert.Equal(ReservedTokens.Unknown, EncodingTestHelpers.EncodeRows(transformer, later)[0][color.Start]);
    }

    [Fact]
    public void ZeroOrAWidthOverrideKeepsCharactersAndNegativeIsRefused()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(Rows());
        Assert.Equal("green".Length, Fit(ml, data, maxCategories: 0).Fields.Single(f => f.Name == "Color").Width);
        Assert.Equal(2, Fit(ml, data, 64, new CharacterEncodingColumnOverride { Name = "Color", Width = 2 }).Fields.Single(f => f.Name == "Color").Width);
        // A cap below the field's distinct values: characters.
        Assert.Equal("green".Length, Fit(ml, data, maxCategories: 2).Fields.Single(f => f.Name == "Color").Width);
        var bad = Assert.ThrowsAny<ArgumentException>(() => ml.Transforms.EncodeAsCharacters(new CharacterEncodingOptions { MaxCategories = -1 }));
        Assert.Contains("MaxCategories", bad.Message);
    }

    [Fact]
    public void AKeyColumnWithTextKeyValuesBecomesACategory()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(Rows());
        var keyed = ml.Transforms.Conversion.MapValueToKey("ColorKey", "Color").Fit(data).Transform(data);
        var transformer = ml.Transforms.EncodeAsCharacters(new CharacterEncodingOptions { InputColumnNames = ["ColorKey"] }).Fit(keyed);
        Assert.Equal(1, transformer.SequenceLength);
        var rows = EncodingTestHelpers.EncodeRows(transformer, keyed);
        Assert.Equal("ColorKey=red", transformer.TokenText(rows[0][0]));
        Assert.Equal("ColorKey=blue", transformer.TokenText(rows[1][0]));
        Assert.Equal(ReservedTokens.Missing, rows[3][0]);
    }

    [Fact]
    public void TheModelZipKeepsTheCategories()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(Rows());
        var model = Fit(ml, data);
        var loaded = ModelZip.RoundTrip(ml, model, data.Schema, out _);
        var later = ml.Data.LoadFromEnumerable(Rows().Append(new Row { Color = "purple", Name = "name3", Size = 2 }));
        Assert.Equal(EncodingTestHelpers.ReadKeys(model.Transform(later)), EncodingTestHelpers.ReadKeys(loaded.Transform(later)));
        VBuffer<ReadOnlyMemory<char>> keyValues = default;
        loaded.Transform(later).Schema["Features"].GetKeyValues(ref keyValues);
        Assert.Contains("Color=blue", keyValues.DenseValues().Select(v => v.ToString()));
    }

    [Fact]
    public void TheMixerLearnsFromACategoryBesideValueTokens()
    {
        // The label is the category alone; the number is noise. Category ids and value tokens share one vocabulary,
        // and a category id mistaken for a value token would leave the mixer at chance.
        var ml = new MLContext(seed: 1);
        var random = new Random(1);
        string[] colors = ["red", "blue", "green", "amber"];
        var rows = Enumerable.Range(0, 400).Select(_ =>
        {
            string c = colors[random.Next(colors.Length)];
            return new Row { Color = c, Name = "n", Size = (float)random.NextDouble(), Label = c is "red" or "amber" };
        }).ToList();
        var split = ml.Data.TrainTestSplit(ml.Data.LoadFromEnumerable(rows), testFraction: 0.25, seed: 1);
        var model = ml.Transforms.EncodeAsCharacters(new CharacterEncodingOptions { InputColumnNames = ["Color", "Size"] })
            .Append(ml.BinaryClassification.Trainers.Mixer(new MixerBinaryTrainer.Options { Epochs = 6, Width = 32, Depth = 2, Seed = 1 }))
            .Fit(split.TrainSet);
        var metrics = ml.BinaryClassification.Evaluate(model.Transform(split.TestSet));
        Assert.True(metrics.Accuracy > 0.95, $"accuracy {metrics.Accuracy:F3}");
    }
}
