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
    public static readonly string[] KnownMissingTokens = ["NA", "N/A", "NaN", "nan", "null", "NULL", "?"];

    private static readonly char[] CandidateSeparators = [',', ';', '\t', '|'];

    public static CsvSchema Sniff(string path)
    {
        if (string.IsNullOrWhiteSpace(path))
            throw new CliException("No file given.");
        if (Directory.Exists(path))
            throw new CliException($"'{path}' is a folder, not a CSV file.");
        if (!File.Exists(path))
            throw new CliException($"File not found: '{path}'.");
        if (new FileInfo(path).Length == 0)
            throw new CliException($"'{path}' is empty.");

        char separator = DetectSeparator(path);
        using var text = OpenText(path);
        var reader = new CsvRecordReader(text, separator);
        var first = reader.Read() ?? throw new CliException($"'{path}' is empty (only blank lines).");
        bool hasHeader = LooksLikeHeader(first);
        var names = hasHeader ? UniqueNames(first) : Enumerable.Range(1, first.Count).Select(i => $"Column{i}").ToList();
        var columns = names.Select((n, i) => new CsvColumn { Name = n, Index = i }).ToList();
        var missingSeen = new SortedSet<string>(StringComparer.Ordinal);

        long rows = 0;
        for (var record = hasHeader ? reader.Read() : first; record is not null; record = reader.Read())
        {
            if (record.Count != columns.Count)
            {
                throw new CliException(
                    $"Malformed row at line {reader.RecordLine} of '{Path.GetFileName(path)}': {record.Count} fields where the " +
                    $"{(hasHeader ? "header has" : "first row has")} {columns.Count} (separator: {SeparatorName(separator)}). " +
                    "Check for an unquoted separator or a missing field.");
            }
            rows++;
            for (int i = 0; i < record.Count; i++)
                Observe(columns[i], record[i], reader.RecordLine, missingSeen);
        }
        if (rows == 0)
            throw new CliException($"'{path}' has a header but no data rows.");

        foreach (var c in columns.Where(c => c.NonMissingCount == 0))
            c.Kind = CsvColumnKind.Text;

        return new CsvSchema
        {
            Path = path,
            Separator = separator,
            HasHeader = hasHeader,
            HasQuotedNewlines = reader.SawQuotedNewline,
            Columns = columns,
            RowCount = rows,
            MissingTokens = [.. missingSeen],
        };
    }

    public static bool IsMissing(string value) => value.Length == 0 || Array.IndexOf(KnownMissingTokens, value) >= 0;

    public static bool TryParseNumber(string value, out double number)
        => double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out number) && double.IsFinite(number);

    public static string SeparatorName(char separator) => separator switch { '\t' => "tab", ',' => "comma", ';' => "semicolon", '|' => "pipe", _ => $"'{separator}'" };

    private static void Observe(CsvColumn column, string value, long line, SortedSet<string> missingSeen)
    {
        if (IsMissing(value))
        {
            column.MissingCount++;
            if (value.Length > 0)
                missingSeen.Add(value);
            return;
        }
        column.NonMissingCount++;
        if (TryParseNumber(value, out double number))
        {
            if (number != Math.Floor(number))
                column.AllIntegers = false;
        }
        else
        {
            column.Kind = CsvColumnKind.Text;
            column.FirstNonNumeric ??= (value, line);
        }
        if (column.Distinct is { } distinct)
        {
            distinct[value] = distinct.GetValueOrDefault(value) + 1;
            if (distinct.Count > MaxTrackedDistinct)
                column.Distinct = null;
        }
    }

    private static StreamReader OpenText(string path) => new(path, System.Text.Encoding.UTF8, detectEncodingFromByteOrderMarks: true);

    /// <summary>The candidate that splits the first lines into the same number (> 1) of fields, the most fields winning.</summary>
    private static char DetectSeparator(string path)
    {
        var lines = new List<string>();
        using (var text = OpenText(path))
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
        => first.All(v => !TryParseNumber(v, out _)) && first.Any(v => v.Length > 0);

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
