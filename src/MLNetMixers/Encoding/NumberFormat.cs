namespace MLNetMixers.Encoding;

/// <summary>
/// A column's fixed-point number format: <c>[sign] integer digits [. decimals]</c>, every part a fixed number of
/// characters, so a position always holds the same place value within the column.
/// </summary>
/// <remarks>
/// Rules (also documented on <see cref="CharacterEncodingEstimator"/>):
/// <list type="bullet">
/// <item>The sign position exists when the column had a negative value at fit time; it holds '+' or '-'.</item>
/// <item>Integer digits are zero-padded on the left (<c>7.25</c> in a 3.2 column is <c>007.25</c>).</item>
/// <item>Values are rounded half away from zero to the declared decimals, never cut. A value that rounds to zero is
///   written without a minus sign.</item>
/// <item>Out of range (a rounded magnitude needing more integer digits than fitted, or a negative value in a
///   column without a sign position): the saturating overflow marker, <c>'#'</c> in every position, with <c>'-'</c>
///   in the first position for negative values. Leading digits are never dropped.</item>
/// <item>Missing: the reserved missing token in every position. NaN: missing by default (ML.NET's NA for
///   floating point), or <c>'?'</c> in every position with DistinguishNaN. +Infinity: <c>'&gt;'</c> in every
///   position; -Infinity: <c>'&lt;'</c> in every position. Zero is an ordinary value (<c>000.00</c>).</item>
/// </list>
/// </remarks>
internal sealed class NumberFormat
{
    /// <summary>Most digits (integer + decimals) a field holds: what fits a <see cref="ulong"/> with room to round.</summary>
    public const int MaxDigits = 19;

    /// <summary>Characters every number field may emit (sign, point, digits, overflow and special-value markers).</summary>
    public const string Alphabet = "#+-.0123456789<>?";

    public const char Plus = '+', Minus = '-', Point = '.', Overflow = '#', NaN = '?', PositiveInfinity = '>', NegativeInfinity = '<';

    private static readonly ulong[] PowersOfTen = Enumerable.Range(0, MaxDigits + 1).Select(i => (ulong)Math.Pow(10, i)).ToArray();

    private readonly ulong limit;
    private readonly double limitAsDouble;
    private readonly double scale;

    public NumberFormat(bool signed, int integerDigits, int decimals)
    {
        if (integerDigits < 1 || decimals < 0 || integerDigits + decimals > MaxDigits)
            throw new ArgumentOutOfRangeException(nameof(integerDigits), $"A number field holds 1 to {MaxDigits} digits (got {integerDigits} integer digits and {decimals} decimals).");
        Signed = signed;
        IntegerDigits = integerDigits;
        Decimals = decimals;
        limit = PowersOfTen[integerDigits + decimals];
        limitAsDouble = limit;
        scale = PowersOfTen[decimals];
    }

    public bool Signed { get; }

    public int IntegerDigits { get; }

    public int Decimals { get; }

    public int Width => (Signed ? 1 : 0) + IntegerDigits + (Decimals > 0 ? 1 + Decimals : 0);

    /// <summary>The largest error of a decoded in-range value: half a unit in the last place.</summary>
    public double Precision => 0.5 / scale;

    /// <summary>Digits needed for the integer part of a magnitude (at least 1).</summary>
    public static int DigitsOf(ulong magnitude)
    {
        int digits = 1;
        while (digits < PowersOfTen.Length && magnitude >= PowersOfTen[digits])
            digits++;
        return digits;
    }

    public static ulong PowerOfTen(int exponent) => PowersOfTen[exponent];

    /// <summary>The learned format's width for a width override: the integer digits are what the override leaves.</summary>
    public static int IntegerDigitsForWidth(int width, bool signed, int decimals) => width - (signed ? 1 : 0) - (decimals > 0 ? 1 + decimals : 0);

    public void Encode(double value, bool nanIsMissing, in NumberTokens tokens, Span<int> destination)
    {
        if (double.IsNaN(value))
        {
            destination.Fill(nanIsMissing ? ReservedTokens.Missing : tokens.NaN);
            return;
        }
        if (double.IsInfinity(value))
        {
            destination.Fill(value > 0 ? tokens.PositiveInfinity : tokens.NegativeInfinity);
            return;
        }
        bool negative = value < 0;
        double scaled = Math.Round(Math.Abs(value) * scale, MidpointRounding.AwayFromZero);
        if (scaled >= limitAsDouble)
        {
            WriteOverflow(negative, tokens, destination);
            return;
        }
        Write(negative, (ulong)scaled, tokens, destination);
    }

    public void Encode(long value, in NumberTokens tokens, Span<int> destination)
    {
        ulong magnitude = value < 0 ? (ulong)(-(value + 1)) + 1 : (ulong)value;
        EncodeInteger(value < 0, magnitude, tokens, destination);
    }

    public void Encode(ulong value, in NumberTokens tokens, Span<int> destination) => EncodeInteger(false, value, tokens, destination);

    private void EncodeInteger(bool negative, ulong magnitude, in NumberTokens tokens, Span<int> destination)
    {
        if (magnitude >= PowersOfTen[IntegerDigits])
        {
            WriteOverflow(negative, tokens, destination);
            return;
        }
        Write(negative, magnitude * (ulong)scale, tokens, destination);
    }

    /// <summary>Writes a scaled magnitude (value x 10^decimals, below the limit) right to left.</summary>
    private void Write(bool negative, ulong scaled, in NumberTokens tokens, Span<int> destination)
    {
        if (scaled >= limit)
        {
            WriteOverflow(negative, tokens, destination);
            return;
        }
        negative &= scaled != 0;
        if (negative && !Signed)
        {
            WriteOverflow(negative, tokens, destination);
            return;
        }
        int p = destination.Length - 1;
        for (int i = 0; i < Decimals; i++)
        {
            destination[p--] = tokens.Digits[(int)(scaled % 10)];
            scaled /= 10;
        }
        if (Decimals > 0)
            destination[p--] = tokens.Point;
        for (int i = 0; i < IntegerDigits; i++)
        {
            destination[p--] = tokens.Digits[(int)(scaled % 10)];
            scaled /= 10;
        }
        if (Signed)
            destination[0] = negative ? tokens.Minus : tokens.Plus;
    }

    private static void WriteOverflow(bool negative, in NumberTokens tokens, Span<int> destination)
    {
        destination.Fill(tokens.Overflow);
        if (negative)
            destination[0] = tokens.Minus;
    }

    /// <summary>
    /// Reads back what <see cref="Encode(double, bool, in NumberTokens, Span{int})"/> wrote. In-range values come
    /// back within <see cref="Precision"/>; the markers come back as their kind.
    /// </summary>
    public DecodedNumber Decode(ReadOnlySpan<int> field, CharacterVocabulary vocabulary)
    {
        if (field.Length != Width)
            throw new ArgumentException($"A field of this format has {Width} positions, not {field.Length}.", nameof(field));
        Span<char> chars = stackalloc char[field.Length];
        for (int i = 0; i < field.Length; i++)
            chars[i] = vocabulary.CharacterOf(field[i]) ?? '\0';
        if (field[0] == ReservedTokens.Missing)
            return new DecodedNumber(DecodedNumberKind.Missing, double.NaN);
        switch (chars[0])
        {
            case NaN: return new DecodedNumber(DecodedNumberKind.NaN, double.NaN);
            case PositiveInfinity: return new DecodedNumber(DecodedNumberKind.PositiveInfinity, double.PositiveInfinity);
            case NegativeInfinity: return new DecodedNumber(DecodedNumberKind.NegativeInfinity, double.NegativeInfinity);
            case Overflow: return new DecodedNumber(DecodedNumberKind.AboveRange, double.PositiveInfinity);
        }
        if (chars[0] == Minus && (Width == 1 || chars[1] == Overflow))
            return new DecodedNumber(DecodedNumberKind.BelowRange, double.NegativeInfinity);
        int p = 0;
        bool negative = false;
        if (Signed)
            negative = chars[p++] == Minus;
        ulong scaled = 0;
        for (; p < Width; p++)
        {
            char c = chars[p];
            if (c == Point)
                continue;
            if (c is < '0' or > '9')
                throw new FormatException($"Position {p} of a number field holds '{vocabulary.TokenText(field[p])}', not a digit.");
            scaled = scaled * 10 + (ulong)(c - '0');
        }
        double value = scaled / scale;
        return new DecodedNumber(DecodedNumberKind.Value, negative ? -value : value);
    }
}

/// <summary>What a decoded number field held.</summary>
internal enum DecodedNumberKind { Value, Missing, NaN, PositiveInfinity, NegativeInfinity, AboveRange, BelowRange }

internal readonly record struct DecodedNumber(DecodedNumberKind Kind, double Value);

/// <summary>Token ids of the characters a number field writes, looked up once per encoder.</summary>
internal readonly struct NumberTokens
{
    public NumberTokens(CharacterVocabulary vocabulary)
    {
        Digits = new int[10];
        for (int d = 0; d < 10; d++)
            Digits[d] = vocabulary.TokenOf((char)('0' + d));
        Plus = vocabulary.TokenOf(NumberFormat.Plus);
        Minus = vocabulary.TokenOf(NumberFormat.Minus);
        Point = vocabulary.TokenOf(NumberFormat.Point);
        Overflow = vocabulary.TokenOf(NumberFormat.Overflow);
        NaN = vocabulary.TokenOf(NumberFormat.NaN);
        PositiveInfinity = vocabulary.TokenOf(NumberFormat.PositiveInfinity);
        NegativeInfinity = vocabulary.TokenOf(NumberFormat.NegativeInfinity);
    }

    public int[] Digits { get; }
    public int Plus { get; }
    public int Minus { get; }
    public int Point { get; }
    public int Overflow { get; }
    public int NaN { get; }
    public int PositiveInfinity { get; }
    public int NegativeInfinity { get; }
}
