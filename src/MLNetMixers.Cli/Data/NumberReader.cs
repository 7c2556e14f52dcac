using System.Globalization;

namespace MLNetMixers.Cli.Data;

/// <summary>
/// Reads numbers as people write them in CSV files: a decimal point or a decimal comma, thousands separators in
/// their proper places only ("1,234" but never "1,2"), and the spellings of infinity (Inf, -inf, Infinity, ∞,
/// case-insensitive). Missing-value spellings (NA, NaN, null, ...) are not numbers here; the sniffer counts them
/// as missing.
/// </summary>
internal sealed class NumberReader
{
    public static readonly NumberReader DecimalPoint = new('.', ',', "decimal point");
    public static readonly NumberReader DecimalComma = new(',', '.', "decimal comma");

    private readonly char decimalMark;
    private readonly char[] groupMarks;

    private NumberReader(char decimalMark, char groupMark, string name)
    {
        this.decimalMark = decimalMark;
        // Spaces (also no-break and narrow no-break) group digits in many European cultures.
        groupMarks = [groupMark, ' ', '\u00A0', '\u202F', '\''];
        Name = name;
    }

    /// <summary>"decimal point" or "decimal comma", for messages.</summary>
    public string Name { get; }

    /// <summary>The reader for a .NET culture name (--culture), e.g. en-US, de-DE, fr-FR, or "invariant".</summary>
    public static NumberReader ForCulture(string name)
    {
        if (name.Equals("invariant", StringComparison.OrdinalIgnoreCase))
            return DecimalPoint;
        CultureInfo culture;
        try
        {
            culture = CultureInfo.GetCultureInfo(name, predefinedOnly: true);
        }
        catch (CultureNotFoundException)
        {
            throw new CliException($"--culture '{name}' is not a culture name this system knows; use e.g. en-US (1,234.5), de-DE (1.234,5), fr-FR or invariant.");
        }
        return culture.NumberFormat.NumberDecimalSeparator == "," ? DecimalComma : DecimalPoint;
    }

    public bool TryParse(string text, out double value)
    {
        value = 0;
        var s = text.AsSpan().Trim();
        if (s.Length == 0)
            return false;
        if (TryInfinity(s, out value))
            return true;
        Span<char> buffer = s.Length <= 128 ? stackalloc char[s.Length] : new char[s.Length];
        int n = 0, digitsInGroup = 0, groups = 0;
        bool seenDecimal = false, seenExponent = false, firstGroupOk = true;
        char group = '\0';
        for (int i = 0; i < s.Length; i++)
        {
            char c = s[i];
            if (!seenDecimal && !seenExponent && Array.IndexOf(groupMarks, c) >= 0 && c != decimalMark)
            {
                // A group mark needs 1-3 digits before the first one, exactly 3 between, one kind throughout.
                if (group != '\0' && c != group)
                    return false;
                if (groups == 0)
                    firstGroupOk = digitsInGroup is >= 1 and <= 3;
                else if (digitsInGroup != 3)
                    return false;
                if (!firstGroupOk)
                    return false;
                group = c;
                groups++;
                digitsInGroup = 0;
                continue;
            }
            if (c == decimalMark && !seenDecimal && !seenExponent)
            {
                if (groups > 0 && digitsInGroup != 3)
                    return false;
                seenDecimal = true;
                buffer[n++] = '.';
                continue;
            }
            if (c is 'e' or 'E')
            {
                if (groups > 0 && !seenDecimal && digitsInGroup != 3)
                    return false;
                seenExponent = true;
            }
            else if (c == '.' || c == ',')
            {
                return false;
            }
            if (char.IsAsciiDigit(c))
                digitsInGroup++;
            buffer[n++] = c;
        }
        if (groups > 0 && !seenDecimal && !seenExponent && digitsInGroup != 3)
            return false;
        return double.TryParse(buffer[..n], NumberStyles.Float, CultureInfo.InvariantCulture, out value) && !double.IsNaN(value);
    }

    private static bool TryInfinity(ReadOnlySpan<char> s, out double value)
    {
        value = 0;
        double sign = 1;
        if (s[0] is '+' or '-')
        {
            sign = s[0] == '-' ? -1 : 1;
            s = s[1..];
        }
        if (s.Equals("inf", StringComparison.OrdinalIgnoreCase) || s.Equals("infinity", StringComparison.OrdinalIgnoreCase) || s.SequenceEqual("∞"))
        {
            value = sign * double.PositiveInfinity;
            return true;
        }
        return false;
    }
}
