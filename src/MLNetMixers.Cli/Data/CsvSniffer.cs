using System.Globalization;

namespace MLNetMixers.Cli.Data;

/// <summary>
/// Infers a CSV file's separator, header and column types with one full pass, checking every record has the
/// header's number of fields (a malformed row is reported with its line number, never skipped).
/// </summary>
internal static class CsvSniffer
{
    /// <summary>Beyond this many distinct values a column is not treated as categorical and stops counting them.</summary>
    public const int MaxTrackedDistinct = 1000;

    /// <summary>Spellings of "missing" that R, pandas, Weka and spreadsheets write; compared exactly.</summary>
    public static readonly string[] KnownMissingTokens = ["NA", "N/A", "NaN", "null", "None", "?"];

    private static readonly char[] CandidateSeparators = [',', ';', '\t', '|'];

    public static CsvSchema Sniff(string path, NumberReader? numbers = null)
    {
        if (string.IsNullOrWhiteSpace(path))
            throw new CliException("No file given.");
        if (Directory.Exists(path))
            throw new CliException($"'{path}' is a folder, not a CSV file.");
        if (!File.Exists(path))
            throw new CliException($"File not found: '{path}'.");
        if (new FileInfo(path).Length == 0)
            throw new CliException($"'{path}' is empty.");

        var decoded = TextFile.Read(path, "CSV file");
        char separator = DetectSeparator(decoded.Text, path);
        var reader = new CsvRecordReader(new StringReader(decoded.Text), separator);
        var first = reader.Read() ?? throw new CliException($"'{path}' is empty (only blank lines).");
        bool hasHeader = LooksLikeHeader(first);
        var names = hasHeader ? UniqueNames(first) : Enumerable.Range(1, first.Count).Select(i => $"Column{i}").ToList();
        var columns = names.Select((n, i) => new CsvColumn { Name = n, Index = i }).ToList();
        var missingSeen = new SortedSet<string>(StringComparer.Ordinal);

        var records = new List<string[]>();
        var lines = new List<long>();
        for (var record = hasHeader ? reader.Read() : first; record is not null; record = reader.Read())
        {
            if (record.Count != columns.Count)
            {
                throw new CliException(
                    $"Malformed row at line {reader.RecordLine} of '{Path.GetFileName(path)}': {record.Count} fields where the " +
                    $"{(hasHeader ? "header has" : "first row has")} {columns.Count} (separator: {SeparatorName(separator)}). " +
                    "Check for an unquoted separator or a missing field.");
            }
            records.Add([.. record]);
            lines.Add(reader.RecordLine);
        }
        if (records.Count == 0)
            throw new CliException($"'{path}' has a header but no data rows.");

        bool sniffed = numbers is null;
        numbers ??= SniffNumbers(records);
        for (int r = 0; r < records.Count; r++)
        {
            for (int i = 0; i < columns.Count; i++)
                Observe(columns[i], records[r][i], lines[r], missingSeen, numbers);
        }
        foreach (var c in columns.Where(c => c.NonMissingCount == 0))
            c.Kind = CsvColumnKind.Text;

        return new CsvSchema
        {
            Path = path,
            Separator = separator,
            HasHeader = hasHeader,
            HasQuotedNewlines = reader.SawQuotedNewline,
            Columns = columns,
            RowCount = records.Count,
            MissingTokens = [.. missingSeen],
            Records = records,
            RecordLines = lines,
            Numbers = numbers,
            NumbersSniffed = sniffed,
            EncodingName = decoded.EncodingName,
            EncodingWarning = decoded.Warning,
        };
    }

    /// <summary>
    /// Decimal comma when more fields read as numbers only with a decimal comma ("1,5") than only with a decimal
    /// point ("1.5"); fields both read ("12", "1,234") do not vote.
    /// </summary>
    private static NumberReader SniffNumbers(List<string[]> records)
    {
        long comma = 0, point = 0;
        foreach (var record in records)
        {
            foreach (string field in record)
            {
                if (field.Length == 0 || IsMissing(field))
                    continue;
                bool p = NumberReader.DecimalPoint.TryParse(field, out _), c = NumberReader.DecimalComma.TryParse(field, out _);
                if (p != c)
                {
                    if (c) comma++;
                    else point++;
                }
            }
        }
        return comma > point ? NumberReader.DecimalComma : NumberReader.DecimalPoint;
    }

    public static bool IsMissing(string value)
    {
        if (value.Length == 0)
            return true;
        foreach (string token in KnownMissingTokens)
        {
            if (string.Equals(value, token, StringComparison.OrdinalIgnoreCase))
                return true;
        }
        return false;
    }

    public static bool TryParseNumber(string value, out double number)
        => NumberReader.DecimalPoint.TryParse(value, out number) || NumberReader.DecimalComma.TryParse(value, out number);

    public static string SeparatorName(char separator) => separator switch { '\t' => "tab", ',' => "comma", ';' => "semicolon", '|' => "pipe", _ => $"'{separator}'" };

    private static void Observe(CsvColumn column, string value, long line, SortedSet<string> missingSeen, NumberReader numbers)
    {
        if (IsMissing(value))
        {
            column.MissingCount++;
            if (value.Length > 0)
                missingSeen.Add(value);
            return;
        }
        column.NonMissingCount++;
        if (numbers.TryParse(value, out double number))
        {
            if (double.IsFinite(number) && number != Math.Floor(number))
                column.AllIntegers = false;
        }
        else
        {
            column.Kind = CsvColumnKind.Text;
            column.NonNumericCount++;
            column.FirstNonNumeric ??= (value, line);
        }
        if (column.Distinct is { } distinct)
        {
            distinct[value] = distinct.GetValueOrDefault(value) + 1;
            if (distinct.Count > MaxTrackedDistinct)
                column.Distinct = null;
        }
    }

    /// <summary>The candidate that splits the first lines into the same number (> 1) of fields, the most fields winning.</summary>
    private static char DetectSeparator(string content, string path)
    {
        var lines = new List<string>();
        using (var text = new StringReader(content))
        {
            for (string? l = text.ReadLine(); l is not null && lines.Count < 50; l = text.ReadLine())
            {
                if (l.Trim().Length > 0)
                    lines.Add(l);
            }
        }
        if (lines.Count == 0)
            throw new CliException($"'{path}' is empty (only blank lines).");

        char best = ',';
        int bestFields = 1;
        foreach (char candidate in CandidateSeparators)
        {
            var counts = lines.Select(l => CountFieldsOutsideQuotes(l, candidate)).ToList();
            int header = counts[0];
            // Lines with quoted line breaks break the count; require agreement on most lines.
            int agreeing = counts.Count(c => c == header);
            if (header > bestFields && agreeing >= Math.Max(1, counts.Count * 0.8))
            {
                best = candidate;
                bestFields = header;
            }
        }
        return best;
    }

    private static int CountFieldsOutsideQuotes(string line, char separator)
    {
        int fields = 1;
        bool quoted = false;
        foreach (char c in line)
        {
            if (c == '"')
                quoted = !quoted;
            else if (c == separator && !quoted)
                fields++;
        }
        return fields;
    }

    /// <summary>A first row with no numbers is a header; data almost always has a number somewhere.</summary>
    private static bool LooksLikeHeader(List<string> first)
        => first.All(v => !(v.Any(char.IsAsciiDigit) && TryParseNumber(v, out _))) && first.Any(v => v.Length > 0);

    private static List<string> UniqueNames(List<string> header)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var names = new List<string>(header.Count);
        for (int i = 0; i < header.Count; i++)
        {
            string name = header[i].Trim();
            if (name.Length == 0)
                name = $"Column{i + 1}";
            string unique = name;
            for (int k = 2; !seen.Add(unique); k++)
                unique = $"{name}_{k}";
            names.Add(unique);
        }
        return names;
    }
}
