namespace MLNetMixers.Cli.Data;

/// <summary>The inferred type of a CSV column: numbers load as Single, everything else as text.</summary>
internal enum CsvColumnKind { Numeric, Text }

/// <summary>What the sniffer learned about one column from a full pass over the file.</summary>
internal sealed class CsvColumn
{
    public required string Name { get; init; }
    public required int Index { get; init; }
    public CsvColumnKind Kind { get; set; } = CsvColumnKind.Numeric;
    public int MissingCount { get; set; }
    public int NonMissingCount { get; set; }

    /// <summary>Non-missing values that are not numbers (what made a column text).</summary>
    public int NonNumericCount { get; set; }

    /// <summary>Distinct non-missing values with their counts, up to <see cref="CsvSniffer.MaxTrackedDistinct"/>; null past that.</summary>
    public Dictionary<string, int>? Distinct { get; set; } = new(StringComparer.Ordinal);

    /// <summary>The first value that is not a number, and the file line it is on (for clear errors about numeric labels).</summary>
    public (string Value, long Line)? FirstNonNumeric { get; set; }

    public bool AllIntegers { get; set; } = true;
}

/// <summary>Header, separator, quoting and column types of a delimited text file.</summary>
internal sealed class CsvSchema
{
    public required string Path { get; init; }
    public required char Separator { get; init; }
    public required bool HasHeader { get; init; }
    public required bool HasQuotedNewlines { get; init; }
    public required IReadOnlyList<CsvColumn> Columns { get; init; }
    public required long RowCount { get; init; }

    /// <summary>Missing-value spellings actually seen in the file (besides the empty field).</summary>
    public required IReadOnlyList<string> MissingTokens { get; init; }

    public CsvColumn? Find(string name) => Columns.FirstOrDefault(c => c.Name == name)
        ?? Columns.FirstOrDefault(c => string.Equals(c.Name, name, StringComparison.OrdinalIgnoreCase));

    public CsvColumn Require(string name, string role) => Find(name)
        ?? throw new CliException($"{role} column '{name}' is not in {System.IO.Path.GetFileName(Path)}. Available columns: {string.Join(", ", Columns.Select(c => c.Name))}.");

    /// <summary>Every data record's fields, as read (the loader and predict's echo use these, never re-parsed text).</summary>
    public required IReadOnlyList<string[]> Records { get; init; }

    /// <summary>The file line each record starts on.</summary>
    public required IReadOnlyList<long> RecordLines { get; init; }

    /// <summary>How numbers are written in this file (given by --culture or sniffed).</summary>
    public required NumberReader Numbers { get; init; }

    public bool NumbersSniffed { get; init; }

    public string EncodingName { get; init; } = "UTF-8";

    /// <summary>Set when the file was not valid UTF-8 and was read as Latin-1.</summary>
    public string? EncodingWarning { get; init; }

    public string SeparatorName => CsvSniffer.SeparatorName(Separator);
}
