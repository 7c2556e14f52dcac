using Microsoft.Data.Analysis;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetMixers.Encoding;

namespace MLNetMixers.Tests.Encoding;

public class CharacterEncodingTransformerTests
{
    private sealed class Person
    {
        public float Age { get; set; }
        public string? City { get; set; }
        public bool Member { get; set; }
        public int Visits { get; set; }
        public DateTime Joined { get; set; }
    }

    private static List<Person> People() =>
    [
        new() { Age = 7.25f, City = "Oslo", Member = true, Visits = 3, Joined = new DateTime(2021, 3, 4) },
        new() { Age = 71.5f, City = "Rio de Janeiro", Member = false, Visits = -120, Joined = new DateTime(2019, 12, 31) },
        new() { Age = float.NaN, City = null, Member = true, Visits = 0, Joined = default },
        new() { Age = 0f, City = "", Member = false, Visits = 42, Joined = new DateTime(2020, 1, 1) },
    ];

    [Fact]
    public void OutputColumnIsAKeyVectorWithSlotNamesAndKeyValues()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(People());
        // Digits only (no decile character) and text as characters: this test reads exact field text.
        var estimator = ml.Transforms.EncodeAsCharacters(new CharacterEncodingOptions
        {
            OutputColumnName = "Features", InputColumnNames = ["Age", "City", "Member", "Visits", "Joined"], NumberDeciles = false, NumberValueTokens = false, MaxCategories = 0,
        });
        var shape = estimator.GetOutputSchema(SchemaShape.Create(data.Schema));
        Assert.True(shape.TryFindColumn("Features", out var shapeColumn));
        Assert.True(shapeColumn.IsKey);

        var transformer = estimator.Fit(data);
        var output = transformer.Transform(data);
        var column = output.Schema["Features"];
        var vector = Assert.IsType<VectorDataViewType>(column.Type);
        var key = Assert.IsType<KeyDataViewType>(vector.ItemType);
        Assert.Equal(typeof(uint), key.RawType);
        Assert.Equal((ulong)transformer.VocabularySize, key.Count);
        Assert.Equal(transformer.SequenceLength, vector.Size);

        // Age: no negatives, 2 integer digits, 2 decimals: 5 characters. Visits: signed, 3 digits: 4.
        Assert.Equal(["Age", "City", "Member", "Visits", "Joined"], transformer.Fields.Select(f => f.Name));
        Assert.Equal([5, 14, 1, 4, 8], transformer.Fields.Select(f => f.Width));
        Assert.Equal([EncodedFieldKind.Number, EncodedFieldKind.Text, EncodedFieldKind.Boolean, EncodedFieldKind.Number, EncodedFieldKind.Date], transformer.Fields.Select(f => f.Kind));

        VBuffer<ReadOnlyMemory<char>> slotNames = default;
        column.GetSlotNames(ref slotNames);
        Assert.Equal(["Age[0]", "Age[1]", "Age[2]", "Age[3]", "Age[4]", "City[0]"], slotNames.DenseValues().Take(6).Select(s => s.ToString()));
        VBuffer<ReadOnlyMemory<char>> keyValues = default;
        column.GetKeyValues(ref keyValues);
        var texts = keyValues.DenseValues().Select(s => s.ToString()).ToArray();
        Assert.Equal(["<pad>", "<sep>", "<missing>", "<unk>"], texts.Take(4));
        Assert.Equal(Enumerable.Range(0, transformer.VocabularySize).Select(transformer.TokenText), texts);
        // Learned characters are in ordinal order.
        Assert.Equal(texts.Skip(4).OrderBy(t => t, StringComparer.Ordinal), texts.Skip(4));

        var rows = EncodingTestHelpers.EncodeRows(transformer, data);
        string Field(int row, string name) => EncodingTestHelpers.FieldText(transformer, rows[row], name);
        Assert.Equal("07.25", Field(0, "Age"));
        Assert.Equal("71.50", Field(1, "Age"));
        Assert.Equal("00.00", Field(3, "Age"));
        Assert.Equal(string.Concat(Enumerable.Repeat("<missing>", 5)), Field(2, "Age"));
        Assert.Equal("Oslo" + string.Concat(Enumerable.Repeat("<pad>", 10)), Field(0, "City"));
        Assert.Equal("Rio de Janeiro", Field(1, "City"));
        Assert.Equal(string.Concat(Enumerable.Repeat("<missing>", 14)), Field(2, "City"));
        Assert.Equal(string.Concat(Enumerable.Repeat("<pad>", 14)), Field(3, "City"));
        Assert.Equal("T", Field(0, "Member"));
        Assert.Equal("F", Field(1, "Member"));
        Assert.Equal("+003", Field(0, "Visits"));
        Assert.Equal("-120", Field(1, "Visits"));
        Assert.Equal("20210304", Field(0, "Joined"));
        Assert.Equal(string.Concat(Enumerable.Repeat("<missing>", 8)), Field(2, "Joined"));

        // MapKeyToValue turns the keys back into their token texts.
        var mapped = ml.Transforms.Conversion.MapKeyToValue("Text", "Features").Fit(output).Transform(output);
        var first = mapped.GetColumn<VBuffer<ReadOnlyMemory<char>>>("Text").First().DenseValues().Select(s => s.ToString()).ToArray();
        Assert.Equal(["0", "7", ".", "2", "5", "O", "s", "l", "o", "<pad>"], first.Take(10));
    }

    [Fact]
    public void EncodedTextColumnShowsTheRow()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(People());
        var transformer = ml.Transforms.EncodeAsCharacters(new CharacterEncodingOptions
        {
            InputColumnNames = ["Age", "City", "Visits"],
            NumberDeciles = false, NumberValueTokens = false, MaxCategories = 0,
            EncodedTextColumnName = "Encoded",
            InsertSeparators = true,
            MaxTextWidth = 6,
        }).Fit(data);
        var text = EncodingTestHelpers.ReadText(transformer.Transform(data), "Encoded");
        Assert.Equal("07.25|Oslo··|+003", text[0]);
        Assert.Equal("71.50|Rio de|-120", text[1]);
        Assert.Equal("∅∅∅∅∅|∅∅∅∅∅∅|+000", text[2]);
        Assert.Equal("<sep>", transformer.TokenText(ReservedTokens.Separator));
        Assert.Equal(5 + 1 + 6 + 1 + 4, transformer.SequenceLength);
    }

    private sealed class VectorRow
    {
        [VectorType(3)]
        public float[] Pixels { get; set; } = [];

        [KeyType(10)]
        public uint Level { get; set; }

        public DateTimeOffset Seen { get; set; }
    }

    [Fact]
    public void VectorSlotsKeysAndDateTimeOffsetsAreFields()
    {
        var ml = new MLContext(seed: 1);
        var rows = new List<VectorRow>
        {
            new() { Pixels = [1, 2.5f, 300], Level = 1, Seen = new DateTimeOffset(2022, 5, 6, 7, 8, 0, TimeSpan.FromHours(2)) },
            new() { Pixels = [0, 0, 0], Level = 9, Seen = new DateTimeOffset(2022, 5, 6, 23, 59, 0, TimeSpan.FromHours(-5)) },
            new() { Pixels = [9, 9, 9], Level = 10, Seen = default },
        };
        var data = ml.Data.LoadFromEnumerable(rows);
        // A key column with text key values, made by ValueToKey.
        var withCity = ml.Data.LoadFromEnumerable(People());
        var keyed = ml.Transforms.Conversion.MapValueToKey("CityKey", "City").Fit(withCity).Transform(withCity);

        var transformer = ml.Transforms.EncodeAsCharacters(new CharacterEncodingOptions
        {
            InputColumnNames = ["Pixels", "Level", "Seen"],
            ExcludedColumns = ["Pixels[1]"],
            NumberDeciles = false, NumberValueTokens = false,
        }).Fit(data);
        Assert.Equal(["Pixels[0]", "Pixels[2]", "Level", "Seen"], transformer.Fields.Select(f => f.Name));
        Assert.Equal(["Pixels", "Pixels", "Level", "Seen"], transformer.Fields.Select(f => f.SourceColumn));
        Assert.Equal([0, 2, -1, -1], transformer.Fields.Select(f => f.Slot));
        var encoded = EncodingTestHelpers.EncodeRows(transformer, data);
        // Each slot learns its own layout.
        Assert.Equal("1", EncodingTestHelpers.FieldText(transformer, encoded[0], "Pixels[0]"));
        Assert.Equal("300", EncodingTestHelpers.FieldText(transformer, encoded[0], "Pixels[2]"));
        Assert.Equal("009", EncodingTestHelpers.FieldText(transformer, encoded[2], "Pixels[2]"));
        // Key without key values: the zero-based index (LoadFromEnumerable stores value v as key v + 1), wide enough
        // for all 10 keys; key 0 (here the out-of-range value 10) is missing.
        Assert.Equal("1", EncodingTestHelpers.FieldText(transformer, encoded[0], "Level"));
        Assert.Equal("9", EncodingTestHelpers.FieldText(transformer, encoded[1], "Level"));
        Assert.Equal("<missing>", EncodingTestHelpers.FieldText(transformer, encoded[2], "Level"));
        // Offsets differ, so the offset is part of the format.
        Assert.Equal("202205060708+0200", EncodingTestHelpers.FieldText(transformer, encoded[0], "Seen"));
        Assert.Equal("202205062359-0500", EncodingTestHelpers.FieldText(transformer, encoded[1], "Seen"));

        var keyTransformer = ml.Transforms.EncodeAsCharacters(new CharacterEncodingOptions { InputColumnNames = ["CityKey"], MaxCategories = 0 }).Fit(keyed);
        var keyRows = EncodingTestHelpers.EncodeRows(keyTransformer, keyed);
        Assert.Equal(EncodedFieldKind.Text, keyTransformer.Fields[0].Kind);
        Assert.Equal("Oslo" + string.Concat(Enumerable.Repeat("<pad>", 10)), EncodingTestHelpers.FieldText(keyTransformer, keyRows[0], "CityKey"));
    }

    [Fact]
    public void OverridesSetWidthDecimalsAndCutTextFromTheStart()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(People());
        var transformer = ml.Transforms.EncodeAsCharacters(new CharacterEncodingOptions
        {
            InputColumnNames = ["Age", "City", "Visits"],
            NumberDeciles = false, NumberValueTokens = false,
            ColumnOverrides =
            [
                new() { Name = "Age", Decimals = 0 },
                new() { Name = "City", Width = 3 },
                new() { Name = "Visits", Width = 3 },
            ],
        }).Fit(data);
        var rows = EncodingTestHelpers.EncodeRows(transformer, data);
        Assert.Equal("07", EncodingTestHelpers.FieldText(transformer, rows[0], "Age"));
        // 71.5 rounds half away from zero.
        Assert.Equal("72", EncodingTestHelpers.FieldText(transformer, rows[1], "Age"));
        Assert.Equal("Rio", EncodingTestHelpers.FieldText(transformer, rows[1], "City"));
        // Width 3 with a sign leaves 2 digits: -120 no longer fits and saturates, sign kept.
        Assert.Equal("+03", EncodingTestHelpers.FieldText(transformer, rows[0], "Visits"));
        Assert.Equal("-##", EncodingTestHelpers.FieldText(transformer, rows[1], "Visits"));

        var bad = Assert.ThrowsAny<Exception>(() => ml.Transforms.EncodeAsCharacters(new CharacterEncodingOptions
        {
            InputColumnNames = ["Age"],
            ColumnOverrides = [new() { Name = "Agee", Width = 3 }],
        }).Fit(data));
        Assert.Contains("Agee", bad.Message);
        var boolWidth = Assert.ThrowsAny<Exception>(() => ml.Transforms.EncodeAsCharacters(new CharacterEncodingOptions
        {
            InputColumnNames = ["Member"],
            ColumnOverrides = [new() { Name = "Member", Width = 3 }],
        }).Fit(data));
        Assert.Contains("Member", boolWidth.Message);
    }

    private sealed class UnsupportedRow
    {
        public TimeSpan Duration { get; set; }
        public float[] Ragged { get; set; } = [];
        public float Fine { get; set; }
    }

    [Fact]
    public void UnsupportedColumnsFailInGetOutputSchemaNamingColumnAndType()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(new[] { new UnsupportedRow { Duration = TimeSpan.FromHours(1), Ragged = [1, 2], Fine = 1 } });
        var shape = SchemaShape.Create(data.Schema);

        var timeSpan = Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.EncodeAsCharacters("Features", "Fine", "Duration").GetOutputSchema(shape));
        Assert.Contains("'Duration'", timeSpan.Message);
        Assert.Contains("TimeSpan", timeSpan.Message);

        var ragged = Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.EncodeAsCharacters("Features", "Ragged").GetOutputSchema(shape));
        Assert.Contains("'Ragged'", ragged.Message);
        Assert.Contains("unknown size", ragged.Message);

        var absent = Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.EncodeAsCharacters("Features", "Nope").GetOutputSchema(shape));
        Assert.Contains("'Nope'", absent.Message);

        // Fit checks the same way.
        var fit = Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.EncodeAsCharacters("Features", "Duration").Fit(data));
        Assert.Contains("'Duration'", fit.Message);

        // A fitted transformer rejects a schema whose column changed type.
        var transformer = ml.Transforms.EncodeAsCharacters("Features", "Fine").Fit(data);
        var changed = ml.Data.LoadFromEnumerable(new[] { new { Fine = "text" } });
        var mismatch = Assert.Throws<ArgumentOutOfRangeException>(() => transformer.Transform(changed));
        Assert.Contains("'Fine'", mismatch.Message);
    }

    [Fact]
    public void WithoutInputColumnsEverySupportedColumnButTheExcludedIsEncoded()
    {
        var ml = new MLContext(seed: 1);
        var messages = new List<string>();
        ml.Log += (_, e) => { lock (messages) messages.Add(e.Message); };
        var data = ml.Data.LoadFromEnumerable(People());
        var transformer = ml.Transforms.EncodeAsCharacters(new CharacterEncodingOptions { ExcludedColumns = ["Member"] }).Fit(data);
        Assert.Equal(["Age", "City", "Visits", "Joined"], transformer.Fields.Select(f => f.Name));
        // The fit reports its layout through MLContext.Log.
        Assert.Contains(messages, m => m.Contains("Character encoding fitted on 4 rows: 4 fields"));
    }

    private sealed class TwoFloats
    {
        public float A { get; set; }
        public float B { get; set; }
    }

    [Fact]
    public void VectorSlotNamesNameTheFields()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(new[] { new TwoFloats { A = 1.5f, B = 20 } });
        // Concatenate names its slots after the input columns; a repeated slot name falls back to the index form.
        var named = ml.Transforms.Concatenate("V", "A", "B").Append(ml.Transforms.Concatenate("W", "A", "A")).Fit(data).Transform(data);
        var transformer = ml.Transforms.EncodeAsCharacters("Features", "V", "W").Fit(named);
        Assert.Equal(["V.A", "V.B", "W[0]", "W[1]"], transformer.Fields.Select(f => f.Name));
        var rows = EncodingTestHelpers.EncodeRows(transformer, named);
        Assert.Equal("1.5", EncodingTestHelpers.FieldText(transformer, rows[0], "V.A"));
        Assert.Equal("20", EncodingTestHelpers.FieldText(transformer, rows[0], "V.B"));
        var slotNames = default(VBuffer<ReadOnlyMemory<char>>);
        transformer.Transform(named).Schema["Features"].GetSlotNames(ref slotNames);
        Assert.Equal("V.A[0]", slotNames.GetItemOrDefault(0).ToString());
    }

    private sealed class DateRow
    {
        public DateTime Day { get; set; }
        public DateTime Minute { get; set; }
        public DateTime Second { get; set; }
    }

    [Fact]
    public void DatesIncludeTimeOnlyWhenTheDataHasIt()
    {
        var ml = new MLContext(seed: 1);
        var rows = new[]
        {
            new DateRow { Day = new(2020, 2, 29), Minute = new(2020, 2, 29, 13, 5, 0), Second = new(2020, 2, 29, 13, 5, 9, 900) },
            new DateRow { Day = new(1999, 12, 31), Minute = new(1999, 12, 31), Second = new(1999, 12, 31) },
        };
        var data = ml.Data.LoadFromEnumerable(rows);
        var transformer = ml.Transforms.EncodeAsCharacters("Features", "Day", "Minute", "Second").Fit(data);
        Assert.Equal([8, 12, 14], transformer.Fields.Select(f => f.Width));
        var encoded = EncodingTestHelpers.EncodeRows(transformer, data);
        Assert.Equal("20200229", EncodingTestHelpers.FieldText(transformer, encoded[0], "Day"));
        Assert.Equal("202002291305", EncodingTestHelpers.FieldText(transformer, encoded[0], "Minute"));
        // Finer parts are floored, as a calendar does.
        Assert.Equal("20200229130509", EncodingTestHelpers.FieldText(transformer, encoded[0], "Second"));
        Assert.Equal("19991231000000", EncodingTestHelpers.FieldText(transformer, encoded[1], "Second"));
    }

    [Fact]
    public void ModelZipRoundTripEncodesByteForByteTheSame()
    {
        var ml = new MLContext(seed: 1);
        var frame = DataFrame.LoadCsv(TestData.Tabular("penguins_raw.csv"));
        var options = new CharacterEncodingOptions
        {
            ExcludedColumns = ["Species"],
            MissingTextValues = ["NA"],
            EncodedTextColumnName = "Encoded",
            InsertSeparators = true,
        };
        var transformer = ml.Transforms.EncodeAsCharacters(options).Fit(frame);
        var before = EncodingTestHelpers.ReadKeys(transformer.Transform(frame));
        var beforeText = EncodingTestHelpers.ReadText(transformer.Transform(frame), "Encoded");

        string folder = TestData.NewTempFolder();
        string path = Path.Combine(folder, "encoder.zip");
        try
        {
            ml.Model.Save(transformer, ((IDataView)frame).Schema, path);
            var fresh = new MLContext(seed: 2);
            var loaded = fresh.Model.Load(path, out var schema);
            var encoder = Assert.IsType<CharacterEncodingTransformer>(loaded);
            Assert.Equal(transformer.Fields, encoder.Fields);
            Assert.Equal(transformer.VocabularySize, encoder.VocabularySize);

            var after = EncodingTestHelpers.ReadKeys(loaded.Transform(frame));
            Assert.Equal(before.Length, after.Length);
            for (int i = 0; i < before.Length; i++)
                Assert.Equal(before[i], after[i]);
            Assert.Equal(beforeText, EncodingTestHelpers.ReadText(loaded.Transform(frame), "Encoded"));

            // Saving the loaded model again writes the same bytes.
            string again = Path.Combine(folder, "again.zip");
            fresh.Model.Save(loaded, schema, again);
            var first = ModelBytes(path);
            var second = ModelBytes(again);
            Assert.Equal(first.Select(e => e.Name), second.Select(e => e.Name));
            for (int i = 0; i < first.Count; i++)
                Assert.True(first[i].Bytes.AsSpan().SequenceEqual(second[i].Bytes), $"zip entry {first[i].Name} differs after a load/save cycle");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private sealed class EncodedPerson
    {
        [KeyType(1000)]
        public uint[] Features { get; set; } = [];

        public string Encoded { get; set; } = "";
    }

    [Fact]
    public void PredictionEngineEncodesSingleRowsLikeTheCursor()
    {
        var ml = new MLContext(seed: 1);
        var people = People();
        var data = ml.Data.LoadFromEnumerable(people);
        var transformer = ml.Transforms.EncodeAsCharacters(new CharacterEncodingOptions
        {
            InputColumnNames = ["Age", "City", "Member", "Visits", "Joined"],
            EncodedTextColumnName = "Encoded",
        }).Fit(data);
        var expected = EncodingTestHelpers.ReadKeys(transformer.Transform(data));
        var texts = EncodingTestHelpers.ReadText(transformer.Transform(data), "Encoded");
        var engine = ml.Model.CreatePredictionEngine<Person, EncodedPerson>(transformer);
        for (int i = 0; i < people.Count; i++)
        {
            var encoded = engine.Predict(people[i]);
            Assert.Equal(expected[i], encoded.Features);
            Assert.Equal(texts[i], encoded.Encoded);
        }
    }

    [Fact]
    public void TextLoaderColumnsEncodeWithMissingNumbersAndText()
    {
        var ml = new MLContext(seed: 1);
        // MissingRealsAsNaNs: without it the text loader reads an empty number as 0, and the encoding cannot tell.
        var data = ml.Data.LoadFromTextFile(TestData.Tabular("credit_data.csv"), new TextLoader.Options
        {
            Columns =
            [
                new TextLoader.Column("Home", DataKind.String, 2),
                new TextLoader.Column("Income", DataKind.Single, 9),
                new TextLoader.Column("Amount", DataKind.Int32, 12),
            ],
            Separators = [','],
            HasHeader = true,
            AllowQuoting = true,
            MissingRealsAsNaNs = true,
        });
        var transformer = ml.Transforms.EncodeAsCharacters("Features", "Home", "Income", "Amount").Fit(data);
        var rows = EncodingTestHelpers.EncodeRows(transformer, data);
        var homes = data.GetColumn<ReadOnlyMemory<char>>("Home").Select(h => h.ToString()).ToArray();
        var incomes = data.GetColumn<float>("Income").ToArray();
        Assert.Contains(incomes, float.IsNaN);
        Assert.Contains(homes, h => h.Length == 0);
        for (int r = 0; r < rows.Length; r++)
        {
            string income = EncodingTestHelpers.FieldText(transformer, rows[r], "Income");
            Assert.Equal(float.IsNaN(incomes[r]), income.StartsWith("<missing>", StringComparison.Ordinal));
            string home = EncodingTestHelpers.FieldText(transformer, rows[r], "Home");
            // The text loader hands an empty field over as null text (no backing string): missing. (DataFrame gives "",
            // which is the empty value, all padding, unless MissingTextValues lists "".)
            Assert.Equal(homes[r].Length == 0, home.StartsWith("<missing>", StringComparison.Ordinal));
        }
        // Int32 amounts are numbers like the Single incomes: one value token each (800 is in the fitted range's lower half).
        string amount = EncodingTestHelpers.FieldText(transformer, rows[0], "Amount");
        Assert.Matches(@"^<value [0-7]\+[0-7]/8>$", amount);
    }

    /// <summary>Every zip entry's name and bytes, in name order.</summary>
    private static List<(string Name, byte[] Bytes)> ModelBytes(string zipPath)
    {
        using var zip = System.IO.Compression.ZipFile.OpenRead(zipPath);
        var result = new List<(string, byte[])>();
        foreach (var entry in zip.Entries.OrderBy(e => e.FullName, StringComparer.Ordinal))
        {
            using var stream = entry.Open();
            using var memory = new MemoryStream();
            stream.CopyTo(memory);
            result.Add((entry.FullName, memory.ToArray()));
        }
        return result;
    }
}
