using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetMixers.Encoding;

/// <summary>What the fit pass learns about one field; <see cref="Build"/> turns it into the field's layout.</summary>
internal abstract class FieldStatistics : FieldVisitor
{
    protected FieldStatistics(string name, InputColumn input, int slot)
    {
        Name = name;
        Input = input;
        Slot = slot;
    }

    public string Name { get; }
    public InputColumn Input { get; }
    public int Slot { get; }

    /// <summary>Builds the layout at position 0 (the estimator places fields afterwards) and adds the characters it can emit.</summary>
    public abstract FieldLayout Build(CharacterEncodingColumnOverride? columnOverride, ISet<char> characters);

    protected EncodedField Field(int width, EncodedFieldKind kind) => new(Name, Input.Name, Slot, 0, width, kind);

    protected Exception BadOverride(string what) => new InvalidOperationException(
        $"The override for field '{Name}' sets {what}, which a {Input.Kind} field does not have.");

    /// <summary>Creates the statistics for one field of a column in the chosen layout.</summary>
    public static FieldStatistics Create(string name, InputColumn input, int slot, DataViewSchema.Column column, CharacterEncodingOptions options, ISet<char> characters)
    {
        if (options.Layout == CharacterEncodingLayout.PaperCompatible)
            return new PaperStatistics(name, input, slot, column, options);
        switch (input.Kind)
        {
            case InputKind.Boolean:
                return new BooleanStatistics(name, input, slot);
            case InputKind.Text:
                return new TextStatistics(name, input, slot, options, characters, null);
            case InputKind.DateTime:
            case InputKind.DateTimeOffset:
                return new DateStatistics(name, input, slot);
            case InputKind.Key:
                var texts = FieldLayout.KeyTexts(column);
                return texts is null
                    ? new KeyIndexStatistics(name, input, slot, column.Type.GetItemType().GetKeyCount())
                    : new TextStatistics(name, input, slot, options, characters, texts);
            default:
                return new NumberStatistics(name, input, slot, options.MaxDecimals, options.NumberDeciles || options.NumberValueTokens, options.MaxRangeDigits, options.NumberValueTokens);
        }
    }
}

internal sealed class NumberStatistics : FieldStatistics
{
    private readonly int maxDecimals;
    private readonly double tolerance;
    private bool negative;
    private double largest;
    private double minimum = double.PositiveInfinity;
    private double maximum = double.NegativeInfinity;
    private readonly int? maxRangeDigits;
    private ulong largestInteger;
    private int decimals;
    private readonly List<double>? sample;
    private readonly Random sampler = new(1);
    private long seen;

    /// <summary>Values kept (a uniform reservoir sample) to place the decile cuts.</summary>
    private const int SampleSize = 10_000;

    private readonly bool valueTokens;

    public NumberStatistics(string name, InputColumn input, int slot, int maxDecimals, bool deciles = false, int? maxRangeDigits = null, bool valueTokens = false) : base(name, input, slot)
    {
        this.valueTokens = valueTokens;
        this.maxRangeDigits = maxRangeDigits;
        sample = deciles ? [] : null;
        this.maxDecimals = Math.Clamp(maxDecimals, 0, NumberFormat.MaxDigits - 1);
        // A Single carries ~7 significant digits, a Double ~16: noise below that is not a decimal the data has.
        tolerance = input.Kind == InputKind.Single ? 1e-6 : 1e-9;
    }

    public override void OnDouble(double value, Span<int> destination)
    {
        if (!double.IsFinite(value))
            return;
        Sample(value);
        double magnitude = Math.Abs(value);
        negative |= value < 0;
        largest = Math.Max(largest, magnitude);
        minimum = Math.Min(minimum, value);
        maximum = Math.Max(maximum, value);
        while (decimals < maxDecimals && !Exact(magnitude, decimals))
            decimals++;
    }

    private bool Exact(double magnitude, int places)
    {
        double scaled = magnitude * NumberFormat.PowerOfTen(places);
        return Math.Abs(scaled - Math.Round(scaled)) <= tolerance * scaled;
    }

    private void Sample(double value)
    {
        if (sample is null)
            return;
        seen++;
        if (sample.Count < SampleSize)
            sample.Add(value);
        else if (sampler.NextInt64(seen) is var i && i < SampleSize)
            sample[(int)i] = value;
    }

    /// <summary>The distinct deciles of the sampled values, or null when there are fewer than two distinct values.</summary>
    private double[]? Cuts()
    {
        if (sample is null || sample.Count == 0)
            return null;
        var sorted = sample.Order().ToArray();
        if (sorted[0] == sorted[^1])
            return null;
        return Enumerable.Range(1, 9).Select(k => sorted[(int)((long)k * sorted.Length / 10)]).Where(c => c > sorted[0]).Distinct().ToArray();
    }

    public override void OnInt64(long value, Span<int> destination)
    {
        Sample(value);
        negative |= value < 0;
        largestInteger = Math.Max(largestInteger, value < 0 ? (ulong)(-(value + 1)) + 1 : (ulong)value);
    }

    public override void OnUInt64(ulong value, Span<int> destination)
    {
        Sample(value);
        largestInteger = Math.Max(largestInteger, value);
    }

    /// <summary>
    /// The learned decimals, less those that would split the fitted range into more than 10^maxRangeDigits steps: finer
    /// digits are near-unique per row (hpc_data's hour, 13.8166666666667, at 4 decimals), which a model can memorise
    /// rows by rather than learn from.
    /// </summary>
    private int RangeCappedDecimals()
    {
        int places = decimals;
        if (maxRangeDigits is not { } digits || maximum <= minimum)
            return places;
        double steps = NumberFormat.PowerOfTen(Math.Min(digits, NumberFormat.MaxDigits));
        while (places > 0 && (maximum - minimum) * NumberFormat.PowerOfTen(places) > steps)
            places--;
        return places;
    }

    public override FieldLayout Build(CharacterEncodingColumnOverride? columnOverride, ISet<char> characters)
    {
        int places = columnOverride?.Decimals ?? RangeCappedDecimals();
        if (places < 0 || places >= NumberFormat.MaxDigits)
            throw new InvalidOperationException($"The override for field '{Name}' sets {places} decimals; use 0 to {NumberFormat.MaxDigits - 1}.");
        int integerDigits;
        if (Input.IsFloatingPoint)
        {
            // Digits of the largest value after rounding (9.996 at 2 decimals is 10.00).
            double rounded = Math.Round(largest * NumberFormat.PowerOfTen(places), MidpointRounding.AwayFromZero) / NumberFormat.PowerOfTen(places);
            integerDigits = rounded >= 1e19 ? NumberFormat.MaxDigits : NumberFormat.DigitsOf((ulong)Math.Floor(rounded));
        }
        else
            integerDigits = NumberFormat.DigitsOf(largestInteger);
        // Keep the integer digits whole; give up decimals first when the field would exceed 19 digits.
        integerDigits = Math.Min(integerDigits, NumberFormat.MaxDigits);
        places = Math.Min(places, NumberFormat.MaxDigits - integerDigits);
        if (columnOverride?.Width is int width)
        {
            integerDigits = NumberFormat.IntegerDigitsForWidth(width, negative, places);
            if (integerDigits < 1 || integerDigits + places > NumberFormat.MaxDigits)
                throw new InvalidOperationException(
                    $"The override for field '{Name}' sets width {width}, which leaves {integerDigits} integer digits " +
                    $"with {places} decimals{(negative ? " and a sign" : "")}; a number field needs 1 to {NumberFormat.MaxDigits} digits in all.");
        }
        var format = new NumberFormat(negative, integerDigits, places);
        foreach (char c in NumberFormat.Alphabet)
            characters.Add(c);
        // A width or decimals override asks for digits, so that column keeps them.
        if (valueTokens && columnOverride?.Width is null && columnOverride?.Decimals is null)
        {
            return sample is { Count: > 0 } && NumberValueTokens.Edges(sample.Order().ToArray()) is { } edges
                ? new ValuedNumberLayout(Field(1, EncodedFieldKind.Number), edges)
                : new NumberLayout(Field(format.Width, EncodedFieldKind.Number), format);
        }
        return Cuts() is { } cuts
            ? new RankedNumberLayout(Field(1 + format.Width, EncodedFieldKind.Number), format, cuts)
            : new NumberLayout(Field(format.Width, EncodedFieldKind.Number), format);
    }
}

/// <summary>A key column without key values: the zero-based index, wide enough for every key of the type.</summary>
internal sealed class KeyIndexStatistics(string name, InputColumn input, int slot, ulong keyCount) : FieldStatistics(name, input, slot)
{
    public override void OnKey(ulong value, Span<int> destination) { }

    public override FieldLayout Build(CharacterEncodingColumnOverride? columnOverride, ISet<char> characters)
    {
        if (columnOverride?.Decimals is not null)
            throw BadOverride("decimals");
        int digits = columnOverride?.Width ?? NumberFormat.DigitsOf(keyCount == 0 ? 0 : keyCount - 1);
        if (digits is < 1 or > NumberFormat.MaxDigits)
            throw new InvalidOperationException($"The override for field '{Name}' sets width {digits}; a key index needs 1 to {NumberFormat.MaxDigits} digits.");
        var format = new NumberFormat(false, digits, 0);
        foreach (char c in NumberFormat.Alphabet)
            characters.Add(c);
        return new NumberLayout(Field(format.Width, EncodedFieldKind.Number), format);
    }
}

internal sealed class BooleanStatistics(string name, InputColumn input, int slot) : FieldStatistics(name, input, slot)
{
    public override void OnBoolean(bool value, Span<int> destination) { }

    public override FieldLayout Build(CharacterEncodingColumnOverride? columnOverride, ISet<char> characters)
    {
        if (columnOverride?.Width is not null)
            throw BadOverride("a width");
        if (columnOverride?.Decimals is not null)
            throw BadOverride("decimals");
        foreach (char c in BooleanLayout.Alphabet)
            characters.Add(c);
        return new BooleanLayout(Field(1, EncodedFieldKind.Boolean));
    }
}

/// <summary>Text, or a key's key-value text: the longest value (capped) and the characters inside that width.</summary>
internal sealed class TextStatistics : FieldStatistics
{
    private readonly int cap;
    private readonly string[] missingValues;
    private readonly ISet<char> seen;
    private readonly ReadOnlyMemory<char>[]? keyTexts;
    private readonly int? overrideWidth;
    private int longest;

    /// <summary>Fitted values and their counts while there are at most MaxCategories of them; null once there are more (or categories are off).</summary>
    private Dictionary<string, int>? counts;
    private Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> lookup;
    private readonly int maxCategories;

    public TextStatistics(string name, InputColumn input, int slot, CharacterEncodingOptions options, ISet<char> characters, ReadOnlyMemory<char>[]? keyTexts)
        : base(name, input, slot)
    {
        overrideWidth = CharacterEncodingEstimator.FindOverride(options, name, input.Name)?.Width;
        cap = overrideWidth ?? Math.Max(1, options.MaxTextWidth);
        missingValues = options.MissingTextValues;
        seen = characters;
        this.keyTexts = keyTexts;
        maxCategories = options.MaxCategories;
        if (maxCategories > 0 && overrideWidth is null)
        {
            counts = new Dictionary<string, int>(StringComparer.Ordinal);
            lookup = counts.GetAlternateLookup<ReadOnlySpan<char>>();
        }
    }

    public override void OnText(ReadOnlyMemory<char> value, Span<int> destination)
    {
        if (FieldLayout.IsMissingText(value, missingValues))
            return;
        var span = value.Span;
        Count(span);
        longest = Math.Max(longest, Math.Min(span.Length, cap));
        // Only characters within the cap can ever be written; the learned width is at most the cap.
        foreach (char c in span[..Math.Min(span.Length, cap)])
            seen.Add(c);
    }

    public override void OnKey(ulong value, Span<int> destination)
    {
        if (value != 0 && value <= (ulong)keyTexts!.Length)
            OnText(keyTexts[value - 1], destination);
    }

    private void Count(ReadOnlySpan<char> value)
    {
        if (counts is null)
            return;
        if (lookup.TryGetValue(value, out int n))
            lookup[value] = n + 1;
        else if (counts.Count < maxCategories)
            lookup[value] = 1;
        else
            counts = null;  // more distinct values than categories: the field stays characters
    }

    public override FieldLayout Build(CharacterEncodingColumnOverride? columnOverride, ISet<char> characters)
    {
        if (columnOverride?.Decimals is not null)
            throw BadOverride("decimals");
        if (overrideWidth is < 1)
            throw new InvalidOperationException($"The override for field '{Name}' sets width {overrideWidth}; a text field needs at least 1.");
        if (counts is { Count: > 0 })
        {
            var categories = counts.OrderByDescending(c => c.Value).ThenBy(c => c.Key, StringComparer.Ordinal).Select(c => c.Key).ToArray();
            return new CategoryLayout(Field(1, EncodedFieldKind.Text), categories);
        }
        return new TextLayout(Field(overrideWidth ?? Math.Max(1, longest), EncodedFieldKind.Text));
    }
}

internal sealed class DateStatistics(string name, InputColumn input, int slot) : FieldStatistics(name, input, slot)
{
    private bool time;
    private bool seconds;
    private int? firstOffset;
    private bool offsetsDiffer;

    public override void OnDateTime(DateTime value, Span<int> destination)
    {
        if (value.Ticks == 0)
            return;
        time |= value.Hour != 0 || value.Minute != 0 || value.Second != 0;
        seconds |= value.Second != 0;
    }

    public override void OnDateTimeOffset(DateTimeOffset value, Span<int> destination)
    {
        if (value == default)
            return;
        int offset = (int)value.Offset.TotalMinutes;
        firstOffset ??= offset;
        offsetsDiffer |= offset != firstOffset;
        OnDateTime(value.DateTime, destination);
    }

    public override FieldLayout Build(CharacterEncodingColumnOverride? columnOverride, ISet<char> characters)
    {
        if (columnOverride?.Width is not null)
            throw BadOverride("a width");
        if (columnOverride?.Decimals is not null)
            throw BadOverride("decimals");
        foreach (char c in DateLayout.Alphabet)
            characters.Add(c);
        int width = DateLayout.WidthOf(time, seconds, offsetsDiffer);
        return new DateLayout(Field(width, EncodedFieldKind.Date), time, seconds, offsetsDiffer, offsetsDiffer ? 0 : firstOffset ?? 0);
    }
}

/// <summary>Paper layout: the characters the paper's format writes, and whether a float column reads as pandas int64.</summary>
internal sealed class PaperStatistics : FieldStatistics
{
    private readonly PaperLayout.Encoder formatter;
    private readonly int width;
    private readonly ISet<char> seen = new HashSet<char>();
    private bool wholeNumbers = true;

    public PaperStatistics(string name, InputColumn input, int slot, DataViewSchema.Column column, CharacterEncodingOptions options)
        : base(name, input, slot)
    {
        width = Math.Max(1, options.PaperFieldWidth);
        formatter = new PaperLayout.Encoder(null, width, false, input.Kind == InputKind.Key ? FieldLayout.KeyTexts(column) : null)
        {
            Sink = text => { foreach (char c in text.Span) seen.Add(c); },
        };
    }

    public override void OnDouble(double value, Span<int> destination)
    {
        wholeNumbers &= Math.Floor(value) == value && Math.Abs(value) < 1e16;
        formatter.OnDouble(value, destination);
    }

    public override void OnSingle(float value, Span<int> destination)
    {
        wholeNumbers &= MathF.Floor(value) == value && Math.Abs(value) < 1e16f;
        formatter.OnSingle(value, destination);
    }

    public override void OnInt64(long value, Span<int> destination) => formatter.OnInt64(value, destination);
    public override void OnUInt64(ulong value, Span<int> destination) => formatter.OnUInt64(value, destination);
    public override void OnBoolean(bool value, Span<int> destination) => formatter.OnBoolean(value, destination);
    public override void OnText(ReadOnlyMemory<char> value, Span<int> destination) => formatter.OnText(value, destination);
    public override void OnDateTime(DateTime value, Span<int> destination) => formatter.OnDateTime(value, destination);
    public override void OnDateTimeOffset(DateTimeOffset value, Span<int> destination) => formatter.OnDateTimeOffset(value, destination);
    public override void OnKey(ulong value, Span<int> destination) => formatter.OnKey(value, destination);

    public override FieldLayout Build(CharacterEncodingColumnOverride? columnOverride, ISet<char> characters)
    {
        if (columnOverride is { Width: not null } or { Decimals: not null })
            throw new InvalidOperationException($"Field '{Name}' has an override, but the paper layout has one width for every field (PaperFieldWidth).");
        foreach (char c in PaperLayout.SeedAlphabet)
            characters.Add(c);
        characters.UnionWith(seen);
        var kind = Input.Kind switch
        {
            InputKind.Boolean => EncodedFieldKind.Boolean,
            InputKind.Text => EncodedFieldKind.Text,
            InputKind.DateTime or InputKind.DateTimeOffset => EncodedFieldKind.Date,
            InputKind.Key => EncodedFieldKind.Text,
            _ => EncodedFieldKind.Number,
        };
        return new PaperLayout(Field(width, kind), Input.Kind, Input.IsFloatingPoint && wholeNumbers);
    }
}
