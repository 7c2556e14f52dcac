using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetMixers.Encoding;
using MLNetMixers.Models;
using MLNetMixers.Tests.Trainers;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetMixers.Tests.Encoding;

public class NumberValueTokenTests
{
    private static IDataView Data(MLContext ml) => EncodingTestHelpers.NumberTable(ml);

    private static CharacterEncodingTransformer Fit(MLContext ml, IDataView data, params CharacterEncodingColumnOverride[] overrides)
        => ml.Transforms.EncodeAsCharacters(new CharacterEncodingOptions
        {
            InputColumnNames = ["Value", "Count", "Constant"],
            NumberValueTokens = true,
            ColumnOverrides = overrides,
        }).Fit(data);

    [Fact]
    public void EachNumberIsOneTokenThatOrdersLikeItsValue()
    {
        var ml = new MLContext(seed: 1);
        var data = Data(ml);
        var transformer = Fit(ml, data);
        Assert.Equal([1, 1, 1], transformer.Fields.Select(f => f.Width));
        var rows = EncodingTestHelpers.EncodeRows(transformer, data);

        Assert.Equal("<value 0+0/8>", EncodingTestHelpers.FieldText(transformer, rows[0], "Value"));
        Assert.Equal("<value 15+7/8>", EncodingTestHelpers.FieldText(transformer, rows[99], "Value"));
        int value = transformer.Fields.Single(f => f.Name == "Value").Start, count = transformer.Fields.Single(f => f.Name == "Count").Start;
        for (int i = 1; i < 100; i++)
        {
            Assert.True(rows[i][value] >= rows[i - 1][value], $"row {i}: Value rose but its token fell");
            Assert.True(rows[i][count] <= rows[i - 1][count], $"row {i}: Count fell but its token rose");
        }
        // 100 distinct values over 128 levels: neighbours share a level only now and then, so the token is not a decile.
        Assert.True(rows.Take(100).Select(r => r[value]).Distinct().Count() >= 80);
        // A column with one fitted value has no quantiles: it keeps its digit.
        Assert.Equal("3", EncodingTestHelpers.FieldText(transformer, rows[0], "Constant"));
        Assert.Equal(ReservedTokens.Missing, rows[100][value]);
    }

    [Fact]
    public void ValuesOutsideTheFittedRangeTakeTheNearestEnd()
    {
        var ml = new MLContext(seed: 1);
        var transformer = Fit(ml, Data(ml));
        var unseen = ml.Data.LoadFromEnumerable(new[] { new EncodingTestHelpers.NumberRow { Value = -1e6f, Count = int.MaxValue }, new EncodingTestHelpers.NumberRow { Value = float.PositiveInfinity, Count = -5 } });
        var rows = EncodingTestHelpers.EncodeRows(transformer, unseen);
        Assert.Equal("<value 0+0/8>", EncodingTestHelpers.FieldText(transformer, rows[0], "Value"));
        Assert.Equal("<value 15+7/8>", EncodingTestHelpers.FieldText(transformer, rows[1], "Value"));
        Assert.Equal("<value 15+7/8>", EncodingTestHelpers.FieldText(transformer, rows[0], "Count"));
        Assert.Equal("<value 0+0/8>", EncodingTestHelpers.FieldText(transformer, rows[1], "Count"));
    }

    [Fact]
    public void AWidthOverrideKeepsTheDigits()
    {
        var ml = new MLContext(seed: 1);
        var data = Data(ml);
        var transformer = Fit(ml, data, new CharacterEncodingColumnOverride { Name = "Count", Width = 4 });
        var rows = EncodingTestHelpers.EncodeRows(transformer, data);
        // The layout it would have without value tokens: the decile (NumberDeciles is on), then 4 digits.
        Assert.Equal("90999", EncodingTestHelpers.FieldText(transformer, rows[0], "Count"));
        Assert.StartsWith("<value ", EncodingTestHelpers.FieldText(transformer, rows[0], "Value"));
    }

    [Fact]
    public void ValueTokensRoundTripThroughTheModelZip()
    {
        var ml = new MLContext(seed: 1);
        var data = Data(ml);
        var transformer = Fit(ml, data);
        string path = Path.Combine(TestData.NewTempFolder(), "encoder.zip");
        ml.Model.Save(transformer, data.Schema, path);
        var loaded = Assert.IsType<CharacterEncodingTransformer>(new MLContext(seed: 2).Model.Load(path, out _));
        Assert.Equal(transformer.Fields, loaded.Fields);
        Assert.Equal(transformer.VocabularySize, loaded.VocabularySize);
        Assert.Equal(EncodingTestHelpers.EncodeRows(transformer, data), EncodingTestHelpers.EncodeRows(loaded, data));
    }

    [Fact]
    public void TheValueEmbeddingIsPiecewiseLinearInTheValueAndZeroElsewhere()
    {
        const int length = 3, start = 10, width = 4;
        using var embedding = new NumberValueEmbedding(length, start + NumberValueTokens.Count, start, width);
        var weights = embedding.parameters().Single();                                 // [T, bins, d]
        // Position 0: a character token; 1: level 0 (bin 0, first step); 2: level 8 * 3 + 5 (bin 3, sixth step).
        using var tokens = tensor(new long[] { 4, start, start + 29 }, [1, length]);
        using var output = embedding.forward(tokens);

        Assert.Equal(0f, output[0, 0].abs().sum().item<float>());
        var expectedFirst = weights[1, 0] * (0.5 / 8);
        Assert.True(output[0, 1].allclose(expectedFirst, rtol: 1e-5, atol: 1e-6));
        // Bins 0-2 full, bin 3 at (5 + 1/2) / 8, bins above empty.
        var expectedSecond = weights[2, 0] + weights[2, 1] + weights[2, 2] + weights[2, 3] * (5.5 / 8);
        Assert.True(output[0, 2].allclose(expectedSecond, rtol: 1e-5, atol: 1e-6));
    }

    [Theory]
    [InlineData(ScalarType.Float32)]
    [InlineData(ScalarType.BFloat16)]
    public void TheLookedUpEncodingsGiveWhatTheFormulaGivesBitForBitForEveryToken(ScalarType type)
    {
        const int start = 40, width = 8;
        int vocabulary = start + NumberValueTokens.Count;
        random.manual_seed(3);
        using var embedding = new NumberValueEmbedding(vocabulary, vocabulary, start, width);
        embedding.to(type);
        var weights = embedding.parameters().Single();
        // Every token id once, each at a position of its own, in two rows (the second reversed).
        var ids = Enumerable.Range(0, vocabulary).Select(i => (long)i).ToArray();
        using var tokens = tensor(ids.Concat(ids.Reverse()).ToArray(), [2, vocabulary]);
        using var actual = embedding.forward(tokens);

        // The formula the table replaced: PLE_j(v) = clamp(v - j, 0, 1), v = (level + 1/2) / steps, zero for other tokens.
        using var scope = NewDisposeScope();
        var level = tokens - start;
        var isValue = level.ge(0).logical_and(level.lt(NumberValueTokens.Count)).unsqueeze(-1).to(type);
        var value = (level.to(type) + 0.5) / NumberValueTokens.Steps;
        var encoded = (value.unsqueeze(-1) - arange(NumberValueTokens.Bins, type)).clamp(0, 1) * isValue;
        var expected = encoded.transpose(0, 1).bmm(weights).transpose(0, 1);

        Assert.Equal(type, actual.dtype);
        Assert.True(actual.eq(expected).all().item<bool>(), "the looked-up encodings differ from the formula's");
        Assert.Equal(0f, actual[0, ..start].abs().sum().to(ScalarType.Float32).item<float>());
    }

    [Fact]
    public void TheTableIsConvertedOncePerNumberFormat()
    {
        // float64: a format no other test asks for, so the conversion happens here, under inference mode as in scoring.
        Tensor converted;
        using (inference_mode())
            converted = NumberValueEmbedding.LevelEncodingsAs(ScalarType.Float64, CPU);
        Assert.Same(converted, NumberValueEmbedding.LevelEncodingsAs(ScalarType.Float64, CPU));
        Assert.Same(NumberValueEmbedding.LevelEncodings.Value, NumberValueEmbedding.LevelEncodingsAs(ScalarType.Float32, CPU));
        Assert.Equal(ScalarType.Float64, converted.dtype);
        using var expected = NumberValueEmbedding.LevelEncodings.Value.to(ScalarType.Float64);
        Assert.True(converted.eq(expected).all().item<bool>());
    }

    [Fact]
    public void TheTrainerEmbedsValueTokensAndTheModelZipKeepsThem()
    {
        var ml = new MLContext(seed: 1);
        var split = ml.Data.TrainTestSplit(TrainerData.Diabetes(ml), testFraction: 0.25, seed: 1);
        var pipeline = ml.Transforms.EncodeAsCharacters(new CharacterEncodingOptions { InputColumnNames = TrainerData.DiabetesFeatures, NumberValueTokens = true })
            .Append(ml.BinaryClassification.Trainers.Mixer(new MixerBinaryTrainer.Options { Epochs = 6, Width = 32, Depth = 2, Dropout = 0, Seed = 1 }));
        var model = pipeline.Fit(split.TrainSet);

        var predictor = Assert.IsType<MixerPredictionTransformer>(model.LastTransformer);
        Assert.True(predictor.Shape.ValueTokenStart > 0);
        var metrics = ml.BinaryClassification.Evaluate(model.Transform(split.TestSet));
        // Majority-class guessing gives AUC 0.5; LightGBM about 0.8 on this table.
        Assert.True(metrics.AreaUnderRocCurve > 0.75, $"AUC {metrics.AreaUnderRocCurve:F3}");

        var before = model.Transform(split.TestSet).GetColumn<float>("Score").ToArray();
        var loaded = ModelZip.RoundTrip(ml, model, split.TrainSet.Schema, out _);
        Assert.Equal(before, loaded.Transform(split.TestSet).GetColumn<float>("Score").ToArray());
    }

    [Fact]
    public void TokenIdsPastTheVocabularyAreRejectedWithOrWithoutValueTokens()
    {
        var characters = new CharacterVocabulary("0123456789");
        var valued = new CharacterVocabulary("0123456789", valueTokens: true);
        Assert.Equal('9', characters.DisplayCharacter(characters.Size - 1));
        Assert.Equal('F', valued.DisplayCharacter(valued.Size - 1));
        Assert.Equal("<value 15+7/8>", valued.TokenText(valued.Size - 1));
        // Without value tokens an id past the characters is not a value token either.
        Assert.Throws<ArgumentOutOfRangeException>(() => characters.DisplayCharacter(characters.Size));
        Assert.Throws<ArgumentOutOfRangeException>(() => characters.TokenText(characters.Size));
        Assert.Throws<ArgumentOutOfRangeException>(() => valued.DisplayCharacter(valued.Size));
    }

    [Fact]
    public void DamagedBoundariesInAModelFileFailNamingTheField()
    {
        var field = new EncodedField("Income", "Income", 0, 0, 1, EncodedFieldKind.Number);
        var saved = new MemoryStream();
        new ValuedNumberLayout(field, [0.5, 2, 7]).SaveParameters(new BinaryWriter(saved));
        Assert.Equal([0.5, 2, 7], ValuedNumberLayout.LoadParameters(Reader(saved.ToArray()), field).Edges);

        var unordered = Assert.Throws<FormatException>(() => ValuedNumberLayout.LoadParameters(Reader(Boundaries(0.5, 7, 2)), field));
        Assert.Contains("'Income'", unordered.Message);
        Assert.Contains("7 then 2", unordered.Message);
        var tooMany = Assert.Throws<FormatException>(() => ValuedNumberLayout.LoadParameters(Reader(Boundaries(Enumerable.Range(0, 40).Select(i => (double)i).ToArray())), field));
        Assert.Contains("'Income' has 40 quantile edges", tooMany.Message);

        // Decile cuts (numbers as digits led by their decile) are read by the same code.
        var format = new MemoryStream();
        using (var writer = new BinaryWriter(format, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            writer.Write(false);
            writer.Write(2);
            writer.Write(0);
        }
        var ranked = format.ToArray().Concat(Boundaries(1, double.NaN)).ToArray();
        var nan = Assert.Throws<FormatException>(() => RankedNumberLayout.LoadParameters(Reader(ranked), field));
        Assert.Contains("'Income' has decile cuts that do not ascend", nan.Message);
    }

    private static BinaryReader Reader(byte[] bytes) => new(new MemoryStream(bytes));

    private static byte[] Boundaries(params double[] values)
    {
        var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream))
        {
            writer.Write(values.Length);
            foreach (double value in values)
                writer.Write(value);
        }
        return stream.ToArray();
    }
}
