using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetMixers.Encoding;

/// <summary>Settings shared by every field of one transformer.</summary>
internal sealed record EncodingSettings(CharacterEncodingLayout Layout, bool InsertSeparators, bool DistinguishNaN, string[] MissingTextValues, int PaperFieldWidth);

/// <summary>
/// The fitted, immutable format of one field. <see cref="CreateEncoder"/> builds the visitor that writes the field's
/// tokens; it is built per bound schema because key columns take their text from the schema's key values.
/// </summary>
internal abstract class FieldLayout
{
    protected FieldLayout(EncodedField field) => Field = field;

    public EncodedField Field { get; }

    public abstract FieldVisitor CreateEncoder(CharacterVocabulary vocabulary, EncodingSettings settings, DataViewSchema.Column column);

    /// <summary>Kind-specific parameters, after the <see cref="EncodedField"/> the transformer writes.</summary>
    public abstract void SaveParameters(BinaryWriter writer);

    public abstract FieldLayout WithField(EncodedField field);

    /// <summary>A short description for logs: <c>Age: number 3.1 (6 chars)</c>.</summary>
    public abstract string Describe();

    public static FieldLayout Load(BinaryReader reader, EncodedField field, byte tag) => tag switch
    {
        NumberLayout.Tag => NumberLayout.LoadParameters(reader, field),
        BooleanLayout.Tag => new BooleanLayout(field),
        TextLayout.Tag => new TextLayout(field),
        DateLayout.Tag => DateLayout.LoadParameters(reader, field),
        PaperLayout.Tag => PaperLayout.LoadParameters(reader, field),
        RankedNumberLayout.Tag => RankedNumberLayout.LoadParameters(reader, field),
        ValuedNumberLayout.Tag => ValuedNumberLayout.LoadParameters(reader, field),
        CategoryLayout.Tag => CategoryLayout.LoadParameters(reader, field),
        _ => throw new FormatException($"Unknown field layout tag {tag} for field '{field.Name}'."),
    };

    public abstract byte LayoutTag { get; }

    protected static void FillMissing(Span<int> destination) => destination.Fill(ReservedTokens.Missing);

    /// <summary>Writes fitted boundaries (decile cuts, quantile edges): their count, then each value.</summary>
    protected static void WriteBoundaries(BinaryWriter writer, double[] boundaries)
    {
        writer.Write(boundaries.Length);
        foreach (double boundary in boundaries)
            writer.Write(boundary);
    }

    /// <summary>
    /// Reads what <see cref="WriteBoundaries"/> wrote. A damaged model file fails here, naming the field, rather than
    /// binning values against too many or unordered boundaries.
    /// </summary>
    protected static double[] ReadBoundaries(BinaryReader reader, EncodedField field, string what, int fewest, int most)
    {
        int count = reader.ReadInt32();
        if (count < fewest || count > most)
            throw new FormatException($"Field '{field.Name}' has {count} {what}; expected {fewest} to {most}.");
        var boundaries = new double[count];
        for (int i = 0; i < count; i++)
        {
            boundaries[i] = reader.ReadDouble();
            if (i > 0 && !(boundaries[i] > boundaries[i - 1]))
                throw new FormatException($"Field '{field.Name}' has {what} that do not ascend: {boundaries[i - 1]} then {boundaries[i]}.");
        }
        return boundaries;
    }

    /// <summary>Whether a text value means "missing": null (no backing store) or one of the listed strings.</summary>
    public static bool IsMissingText(ReadOnlyMemory<char> value, string[] missingValues)
    {
        if (value.Equals(default(ReadOnlyMemory<char>)))
            return true;
        var span = value.Span;
        foreach (var missing in missingValues)
        {
            if (span.SequenceEqual(missing))
                return true;
        }
        return false;
    }

    /// <summary>The key values of a column fitted as a key column with text key values; fails, naming the column, when it has none now.</summary>
    protected static ReadOnlyMemory<char>[] FittedKeyTexts(DataViewSchema.Column column) => KeyTexts(column) ?? throw new InvalidOperationException(
        $"Column '{column.Name}' was fitted as a key column with text key values, but its key type now has none.");

    /// <summary>Key values as text, or null when the key column has none.</summary>
    public static ReadOnlyMemory<char>[]? KeyTexts(DataViewSchema.Column column)
    {
        if (!column.HasKeyValues(TextDataViewType.Instance))
            return null;
        VBuffer<ReadOnlyMemory<char>> values = default;
        column.GetKeyValues(ref values);
        return values.DenseValues().ToArray();
    }
}

/// <summary>A fixed-point number (see <see cref="NumberFormat"/>); key columns without key values write their zero-based index.</summary>
internal sealed class NumberLayout : FieldLayout
{
    public const byte Tag = 1;

    public NumberLayout(EncodedField field, NumberFormat format) : base(field) => Format = format;

    public NumberFormat Format { get; }

    public override byte LayoutTag => Tag;

    public override FieldVisitor CreateEncoder(CharacterVocabulary vocabulary, EncodingSettings settings, DataViewSchema.Column column)
        => new Encoder(Format, new NumberTokens(vocabulary), !settings.DistinguishNaN);

    public override void SaveParameters(BinaryWriter writer)
    {
        writer.Write(Format.Signed);
        writer.Write(Format.IntegerDigits);
        writer.Write(Format.Decimals);
    }

    public static NumberLayout LoadParameters(BinaryReader reader, EncodedField field)
        => new(field, new NumberFormat(reader.ReadBoolean(), reader.ReadInt32(), reader.ReadInt32()));

    public override FieldLayout WithField(EncodedField field) => new NumberLayout(field, Format);

    public override string Describe() => $"{Field.Name}: number {(Format.Signed ? "signed " : "")}{Format.IntegerDigits}.{Format.Decimals} ({Field.Width} chars)";

    private sealed class Encoder(NumberFormat format, NumberTokens tokens, bool nanIsMissing) : FieldVisitor
    {
        public override void OnDouble(double value, Span<int> destination) => format.Encode(value, nanIsMissing, tokens, destination);
        public override void OnInt64(long value, Span<int> destination) => format.Encode(value, tokens, destination);
        public override void OnUInt64(ulong value, Span<int> destination) => format.Encode(value, tokens, destination);

        public override void OnKey(ulong value, Span<int> destination)
        {
            if (value == 0)
                FillMissing(destination);
            else
                format.Encode(value - 1, tokens, destination);
        }
    }
}

/// <summary>
/// A number preceded by its decile among the fitted values, one digit '0'-'9' (the count of fitted decile cuts at or
/// below the value), then the fixed-point number as <see cref="NumberLayout"/> writes it. The digit hands the model
/// the value's order in one token, which digit-by-digit place values only give it after learning how digits compare.
/// </summary>
internal sealed class RankedNumberLayout : FieldLayout
{
    public const byte Tag = 6;

    public RankedNumberLayout(EncodedField field, NumberFormat format, double[] cuts) : base(field)
    {
        Format = format;
        Cuts = cuts;
    }

    public NumberFormat Format { get; }

    /// <summary>Ascending distinct decile cuts of the fitted values (at most <see cref="MostCuts"/>).</summary>
    public double[] Cuts { get; }

    /// <summary>The nine deciles.</summary>
    public const int MostCuts = 9;

    public override byte LayoutTag => Tag;

    public static int Rank(double[] cuts, double value)
    {
        int rank = 0;
        while (rank < cuts.Length && value >= cuts[rank])
            rank++;
        return rank;
    }

    public override FieldVisitor CreateEncoder(CharacterVocabulary vocabulary, EncodingSettings settings, DataViewSchema.Column column)
        => new Encoder(Format, Cuts, new NumberTokens(vocabulary), !settings.DistinguishNaN);

    public override void SaveParameters(BinaryWriter writer)
    {
        writer.Write(Format.Signed);
        writer.Write(Format.IntegerDigits);
        writer.Write(Format.Decimals);
        WriteBoundaries(writer, Cuts);
    }

    public static RankedNumberLayout LoadParameters(BinaryReader reader, EncodedField field)
    {
        var format = new NumberFormat(reader.ReadBoolean(), reader.ReadInt32(), reader.ReadInt32());
        return new RankedNumberLayout(field, format, ReadBoundaries(reader, field, "decile cuts", 0, MostCuts));
    }

    public override FieldLayout WithField(EncodedField field) => new RankedNumberLayout(field, Format, Cuts);

    public override string Describe() => $"{Field.Name}: decile + number {(Format.Signed ? "signed " : "")}{Format.IntegerDigits}.{Format.Decimals} ({Field.Width} chars)";

    private sealed class Encoder(NumberFormat format, double[] cuts, NumberTokens tokens, bool nanIsMissing) : FieldVisitor
    {
        public override void OnDouble(double value, Span<int> destination)
        {
            destination[0] = double.IsNaN(value) ? ReservedTokens.Missing : tokens.Digits[Rank(cuts, value)];
            format.Encode(value, nanIsMissing, tokens, destination[1..]);
        }

        public override void OnInt64(long value, Span<int> destination)
        {
            destination[0] = tokens.Digits[Rank(cuts, value)];
            format.Encode(value, tokens, destination[1..]);
        }

        public override void OnUInt64(ulong value, Span<int> destination)
        {
            destination[0] = tokens.Digits[Rank(cuts, value)];
            format.Encode(value, tokens, destination[1..]);
        }
    }
}

/// <summary>
/// A number as one value token (see <see cref="NumberValueTokens"/>): its bin among the fitted quantiles and its place
/// in the bin. No digits: with them the networks memorised rows by their low digits (hpc_data, see the option).
/// </summary>
internal sealed class ValuedNumberLayout : FieldLayout
{
    public const byte Tag = 7;

    public ValuedNumberLayout(EncodedField field, double[] edges) : base(field) => Edges = edges;

    /// <summary>Ascending distinct quantile edges of the fitted values (2 to <see cref="NumberValueTokens.Bins"/> + 1).</summary>
    public double[] Edges { get; }

    public override byte LayoutTag => Tag;

    public override FieldVisitor CreateEncoder(CharacterVocabulary vocabulary, EncodingSettings settings, DataViewSchema.Column column)
        => new Encoder(Edges, vocabulary, !settings.DistinguishNaN);

    public override void SaveParameters(BinaryWriter writer)
    {
        WriteBoundaries(writer, Edges);
    }

    public static ValuedNumberLayout LoadParameters(BinaryReader reader, EncodedField field)
        => new(field, ReadBoundaries(reader, field, "quantile edges", 2, NumberValueTokens.Bins + 1));

    public override FieldLayout WithField(EncodedField field) => new ValuedNumberLayout(field, Edges);

    public override string Describe() => $"{Field.Name}: value token, {Edges.Length - 1} quantile bins from {Edges[0]} to {Edges[^1]} (1 char)";

    private sealed class Encoder(double[] edges, CharacterVocabulary vocabulary, bool nanIsMissing) : FieldVisitor
    {
        public override void OnDouble(double value, Span<int> destination)
            => destination[0] = double.IsNaN(value) ? (nanIsMissing ? ReservedTokens.Missing : vocabulary.TokenOf(NumberFormat.NaN))
                : vocabulary.ValueToken(NumberValueTokens.Level(edges, value));

        public override void OnInt64(long value, Span<int> destination) => destination[0] = vocabulary.ValueToken(NumberValueTokens.Level(edges, value));

        public override void OnUInt64(ulong value, Span<int> destination) => destination[0] = vocabulary.ValueToken(NumberValueTokens.Level(edges, value));
    }
}

/// <summary>One character: <c>'T'</c> or <c>'F'</c>.</summary>
internal sealed class BooleanLayout(EncodedField field) : FieldLayout(field)
{
    public const byte Tag = 2;
    public const string Alphabet = "FT";

    public override byte LayoutTag => Tag;

    public override FieldVisitor CreateEncoder(CharacterVocabulary vocabulary, EncodingSettings settings, DataViewSchema.Column column)
        => new Encoder(vocabulary.TokenOf('T'), vocabulary.TokenOf('F'));

    public override void SaveParameters(BinaryWriter writer) { }

    public override FieldLayout WithField(EncodedField field) => new BooleanLayout(field);

    public override string Describe() => $"{Field.Name}: boolean (1 char)";

    private sealed class Encoder(int trueToken, int falseToken) : FieldVisitor
    {
        public override void OnBoolean(bool value, Span<int> destination) => destination[0] = value ? trueToken : falseToken;
    }
}

/// <summary>
/// Text, or a key column's key-value text: the first <c>Width</c> characters, padded on the right; missing values
/// fill the field with the missing token; an empty value is all padding; unseen characters become unknown.
/// </summary>
internal sealed class TextLayout(EncodedField field) : FieldLayout(field)
{
    public const byte Tag = 3;

    public override byte LayoutTag => Tag;

    public override FieldVisitor CreateEncoder(CharacterVocabulary vocabulary, EncodingSettings settings, DataViewSchema.Column column)
    {
        var encoder = new Encoder(vocabulary, settings.MissingTextValues, Field.Width);
        if (column.Type.GetItemType() is not KeyDataViewType)
            return encoder;
        var texts = FittedKeyTexts(column);
        // Tokenise every key value once, so a row costs one copy.
        var table = new int[texts.Length][];
        for (int k = 0; k < texts.Length; k++)
        {
            table[k] = new int[Field.Width];
            encoder.OnText(texts[k], table[k]);
        }
        return new KeyEncoder(table);
    }

    public override void SaveParameters(BinaryWriter writer) { }

    public override FieldLayout WithField(EncodedField field) => new TextLayout(field);

    public override string Describe() => $"{Field.Name}: text ({Field.Width} chars)";

    /// <summary>Writes one text value; shared by the fit-time key tables and the transform-time path.</summary>
    public sealed class Encoder(CharacterVocabulary vocabulary, string[] missingValues, int width) : FieldVisitor
    {
        public override void OnText(ReadOnlyMemory<char> value, Span<int> destination)
        {
            if (IsMissingText(value, missingValues))
            {
                FillMissing(destination);
                return;
            }
            var span = value.Span;
            int n = Math.Min(span.Length, width);
            for (int i = 0; i < n; i++)
                destination[i] = vocabulary.TokenOf(span[i]);
            destination[n..].Fill(ReservedTokens.Padding);
        }
    }

    private sealed class KeyEncoder(int[][] table) : FieldVisitor
    {
        public override void OnKey(ulong value, Span<int> destination)
        {
            if (value == 0 || value > (ulong)table.Length)
                FillMissing(destination);
            else
                table[value - 1].CopyTo(destination);
        }
    }
}

/// <summary>
/// A text field with few distinct fitted values, written as one token: each value has its own id in the vocabulary
/// (<see cref="CharacterVocabulary.CategoryStart"/> + its index in <see cref="Categories"/>), so the model learns one
/// embedding per value as trees get one indicator per value. Unseen values are unknown, missing values missing.
/// </summary>
internal sealed class CategoryLayout : FieldLayout
{
    public const byte Tag = 8;

    /// <summary>The most values a saved category field may hold: a bound that catches a damaged file, far above any option.</summary>
    private const int MostSaved = 1 << 20;

    public CategoryLayout(EncodedField field, string[] categories) : base(field) => Categories = categories;

    /// <summary>The fitted values, most frequent first (ties in ordinal order); value k is the field's k-th token.</summary>
    public string[] Categories { get; }

    public override byte LayoutTag => Tag;

    public override FieldVisitor CreateEncoder(CharacterVocabulary vocabulary, EncodingSettings settings, DataViewSchema.Column column)
    {
        int start = vocabulary.CategoryStart(Field.Name);
        var ids = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int k = 0; k < Categories.Length; k++)
            ids[Categories[k]] = start + k;
        var encoder = new Encoder(ids.GetAlternateLookup<ReadOnlySpan<char>>(), settings.MissingTextValues);
        if (column.Type.GetItemType() is not KeyDataViewType)
            return encoder;
        var texts = FittedKeyTexts(column);
        var table = new int[texts.Length];
        for (int k = 0; k < texts.Length; k++)
            encoder.OnText(texts[k], table.AsSpan(k, 1));
        return new KeyEncoder(table);
    }

    public override void SaveParameters(BinaryWriter writer)
    {
        writer.Write(Categories.Length);
        foreach (var value in Categories)
            CharacterEncodingTransformer.WriteChars(writer, value);
    }

    public static CategoryLayout LoadParameters(BinaryReader reader, EncodedField field)
    {
        int count = reader.ReadInt32();
        if (count < 1 || count > MostSaved)
            throw new FormatException($"Field '{field.Name}' has {count} categories; expected 1 to {MostSaved}.");
        var categories = new string[count];
        for (int k = 0; k < count; k++)
            categories[k] = CharacterEncodingTransformer.ReadChars(reader);
        if (categories.Distinct(StringComparer.Ordinal).Count() != count)
            throw new FormatException($"Field '{field.Name}' lists a category twice.");
        return new CategoryLayout(field, categories);
    }

    public override FieldLayout WithField(EncodedField field) => new CategoryLayout(field, Categories);

    public override string Describe() => $"{Field.Name}: category, {Categories.Length} values (1 token)";

    private sealed class Encoder(Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> ids, string[] missingValues) : FieldVisitor
    {
        public override void OnText(ReadOnlyMemory<char> value, Span<int> destination)
            => destination[0] = IsMissingText(value, missingValues) ? ReservedTokens.Missing
                : ids.TryGetValue(value.Span, out int id) ? id : ReservedTokens.Unknown;
    }

    private sealed class KeyEncoder(int[] table) : FieldVisitor
    {
        public override void OnKey(ulong value, Span<int> destination)
            => destination[0] = value == 0 || value > (ulong)table.Length ? ReservedTokens.Missing : table[value - 1];
    }
}

/// <summary>
/// A date in a compact fixed format: <c>yyyyMMdd</c>, then <c>HHmm</c> when any fitted value had a time of day,
/// <c>ss</c> when any had seconds, and <c>+HHmm</c>/<c>-HHmm</c> when DateTimeOffset values had different offsets.
/// Finer parts are dropped (floored, as a calendar does). With one fitted offset, values are converted to it.
/// The default value (0001-01-01 00:00, what DataFrame and the text loader give for a missing date) is missing.
/// </summary>
internal sealed class DateLayout : FieldLayout
{
    public const byte Tag = 4;
    public const string Alphabet = "+-0123456789";

    public DateLayout(EncodedField field, bool includeTime, bool includeSeconds, bool includeOffset, int offsetMinutes) : base(field)
    {
        IncludeTime = includeTime;
        IncludeSeconds = includeSeconds;
        IncludeOffset = includeOffset;
        OffsetMinutes = offsetMinutes;
    }

    public bool IncludeTime { get; }
    public bool IncludeSeconds { get; }
    public bool IncludeOffset { get; }

    /// <summary>The offset DateTimeOffset values are shown in when <see cref="IncludeOffset"/> is off.</summary>
    public int OffsetMinutes { get; }

    public static int WidthOf(bool time, bool seconds, bool offset) => 8 + (time ? 4 : 0) + (seconds ? 2 : 0) + (offset ? 5 : 0);

    public override byte LayoutTag => Tag;

    public override FieldVisitor CreateEncoder(CharacterVocabulary vocabulary, EncodingSettings settings, DataViewSchema.Column column)
        => new Encoder(this, new NumberTokens(vocabulary));

    public override void SaveParameters(BinaryWriter writer)
    {
        writer.Write(IncludeTime);
        writer.Write(IncludeSeconds);
        writer.Write(IncludeOffset);
        writer.Write(OffsetMinutes);
    }

    public static DateLayout LoadParameters(BinaryReader reader, EncodedField field)
        => new(field, reader.ReadBoolean(), reader.ReadBoolean(), reader.ReadBoolean(), reader.ReadInt32());

    public override FieldLayout WithField(EncodedField field) => new DateLayout(field, IncludeTime, IncludeSeconds, IncludeOffset, OffsetMinutes);

    public override string Describe() => $"{Field.Name}: date yyyyMMdd{(IncludeTime ? "HHmm" : "")}{(IncludeSeconds ? "ss" : "")}{(IncludeOffset ? "+HHmm" : "")} ({Field.Width} chars)";

    private sealed class Encoder(DateLayout layout, NumberTokens tokens) : FieldVisitor
    {
        public override void OnDateTime(DateTime value, Span<int> destination)
        {
            if (value.Ticks == 0)
                FillMissing(destination);
            else
                Write(value, 0, destination);
        }

        public override void OnDateTimeOffset(DateTimeOffset value, Span<int> destination)
        {
            if (value == default)
            {
                FillMissing(destination);
                return;
            }
            if (!layout.IncludeOffset && value.Offset != TimeSpan.FromMinutes(layout.OffsetMinutes))
                value = value.ToOffset(TimeSpan.FromMinutes(layout.OffsetMinutes));
            Write(value.DateTime, (int)value.Offset.TotalMinutes, destination);
        }

        private void Write(DateTime value, int offsetMinutes, Span<int> destination)
        {
            int p = 0;
            Digits(value.Year, 4, destination, ref p);
            Digits(value.Month, 2, destination, ref p);
            Digits(value.Day, 2, destination, ref p);
            if (layout.IncludeTime)
            {
                Digits(value.Hour, 2, destination, ref p);
                Digits(value.Minute, 2, destination, ref p);
            }
            if (layout.IncludeSeconds)
                Digits(value.Second, 2, destination, ref p);
            if (layout.IncludeOffset)
            {
                destination[p++] = offsetMinutes < 0 ? tokens.Minus : tokens.Plus;
                int magnitude = Math.Abs(offsetMinutes);
                Digits(magnitude / 60, 2, destination, ref p);
                Digits(magnitude % 60, 2, destination, ref p);
            }
        }

        private void Digits(int value, int count, Span<int> destination, ref int p)
        {
            for (int i = count - 1; i >= 0; i--)
            {
                destination[p + i] = tokens.Digits[value % 10];
                value /= 10;
            }
            p += count;
        }
    }
}
