namespace MLNetMixers;

/// <summary>How <see cref="CharacterEncodingEstimator"/> lays a row out as characters.</summary>
public enum CharacterEncodingLayout
{
    /// <summary>
    /// Every field gets a layout learned at fit time (see <see cref="CharacterEncodingEstimator"/> for the rules):
    /// numbers in a per-column fixed-point format that keeps magnitude and aligns place values, text cut to a
    /// learned width, dates in a compact fixed format. Missing values use the reserved missing token.
    /// </summary>
    Fitted,

    /// <summary>
    /// The format of the tabular paper's own code (Badger, "Small Language Models for Tabular Data", 2022,
    /// <c>data_formatter.py</c>), for reproducing its results: each value is written as Python's <c>str()</c>
    /// of what pandas would have read, cut to its first <see cref="CharacterEncodingOptions.PaperFieldWidth"/>
    /// characters (4), left-padded with <c>'_'</c>; missing values become <c>"____"</c>; fields are joined with
    /// <c>'_'</c>. Padding, separators and missing values are all the character <c>'_'</c>, exactly as in the
    /// paper. Numbers are cut, not rounded, and lose magnitude (<c>71.2833</c> becomes <c>71.2</c>, <c>12345</c>
    /// becomes <c>1234</c>): use it to reproduce the paper, not for new models. The paper's code also blanked
    /// every value whose text started with "n" or "N" (meant to catch pandas' <c>nan</c>, it also erased "no",
    /// "North", ...); that fault is <b>not</b> reproduced: only values pandas reads as missing (NA in the
    /// IDataView, and pandas' default NA strings such as "NA", "N/A", "null", "nan") and the paper's explicit
    /// <c>""</c> and <c>"(null)"</c> are written as missing.
    /// </summary>
    PaperCompatible,
}

/// <summary>Options of <see cref="CharacterEncodingEstimator"/> (<c>mlContext.Transforms.EncodeAsCharacters</c>).</summary>
public sealed class CharacterEncodingOptions
{
    /// <summary>Name of the output column: a known-size vector of keys (token id + 1) with slot names and key values.</summary>
    public string OutputColumnName { get; set; } = "Features";

    /// <summary>
    /// Columns to encode, in this order. Supported: Single, Double, signed and unsigned integers, Boolean, Text,
    /// DateTime, DateTimeOffset, key columns, and known-size vectors of these (each slot one field). Empty means
    /// every column of a supported type in schema order, less <see cref="ExcludedColumns"/> (remember to exclude
    /// the label).
    /// </summary>
    public string[] InputColumnNames { get; set; } = [];

    /// <summary>
    /// Columns or fields left out: a column name drops the whole column; a field name (<c>"Pixels[3]"</c>, or
    /// <c>"Column.SlotName"</c> for vectors with slot names) drops one slot of a vector column.
    /// </summary>
    public string[] ExcludedColumns { get; set; } = [];

    /// <summary>The layout: <see cref="CharacterEncodingLayout.Fitted"/> (default) or the paper's format.</summary>
    public CharacterEncodingLayout Layout { get; set; } = CharacterEncodingLayout.Fitted;

    /// <summary>Cap on a text field's learned width (the longest value seen at fit time); longer values keep their first characters.</summary>
    public int MaxTextWidth { get; set; } = 16;

    /// <summary>Cap on the decimals a floating-point column learns (the most any value needs, up to this many).</summary>
    public int MaxDecimals { get; set; } = 4;

    /// <summary>
    /// Cap on a floating-point column's resolution relative to its fitted range: decimals are given up (after
    /// <see cref="MaxDecimals"/>) until the range from the smallest to the largest fitted value spans at most
    /// 10^MaxRangeDigits steps of the last decimal. Digits finer than that are close to unique per row, so the model
    /// can memorise training rows by them instead of learning from the value; 4 cuts only such columns, 3 would cut
    /// useful decimals too (benchmarks/results/Defaults.md#number-encoding). Null turns the cap off.
    /// </summary>
    public int? MaxRangeDigits { get; set; } = 4;

    /// <summary>
    /// Put a separator token between fields. Off by default: every field has fixed positions, so the model
    /// already knows where fields start, and separators lengthen the sequence. Always on in the paper layout.
    /// </summary>
    public bool InsertSeparators { get; set; }

    /// <summary>
    /// When set, a Text column of this name is added holding each encoded row in readable form (reserved tokens
    /// shown as <c>'·'</c> padding, <c>'|'</c> separator, <c>'∅'</c> missing, <c>'\uFFFD'</c> unknown). For
    /// inspection: unlike the token column it allocates a string per row.
    /// </summary>
    public string? EncodedTextColumnName { get; set; }

    /// <summary>
    /// Text values that mean "missing" (for example <c>"NA"</c> or <c>""</c>), compared exactly. A null text
    /// value (no backing string) is always missing; an empty string is its own value (all padding) unless listed
    /// here. Loaders differ: ML.NET's text loader hands an empty field over as null (missing), DataFrame as an empty
    /// string; list <c>""</c> to treat both alike.
    /// </summary>
    public string[] MissingTextValues { get; set; } = [];

    /// <summary>
    /// Encode NaN in floating-point columns as its own marker (<c>'?'</c>) instead of as missing. Off by default
    /// because ML.NET writes missing Single/Double values as NaN (text loaders, DataFrame nulls).
    /// </summary>
    public bool DistinguishNaN { get; set; }

    /// <summary>
    /// With <see cref="NumberValueTokens"/> off, in the <see cref="CharacterEncodingLayout.Fitted"/> layout, start every number field with one more character:
    /// the value's decile among the fitted values ('0' to '9'), so the model sees a number's order in one token
    /// rather than having to learn how digits compare from place values. Columns with a single fitted value get no
    /// decile (benchmarks/results/Defaults.md#number-encoding). On by default; turn it off for exactly one character per digit (e.g. to compare with the seed papers' layout).
    /// </summary>
    public bool NumberDeciles { get; set; } = true;

    /// <summary>
    /// In the <see cref="CharacterEncodingLayout.Fitted"/> layout, write every number field as one value token instead of
    /// digits: the value's bin among 16 quantiles of the fitted values and its place inside the bin (8 steps). The mixer
    /// trainers embed a value token piecewise-linearly, so close values get close embeddings; with digits a network has
    /// to learn how digits compare, and it memorised rows by their low digits (benchmarks/results/Defaults.md#number-encoding).
    /// On by default. Turn it off for digits (then
    /// <see cref="NumberDeciles"/> applies), e.g. to read numbers back from the encoded text. Columns with a width or
    /// decimals override keep digits; a column with one fitted value is written as digits.
    /// </summary>
    public bool NumberValueTokens { get; set; } = true;

    /// <summary>
    /// In the <see cref="CharacterEncodingLayout.Fitted"/> layout, a text field (or key field with text key values) that
    /// held at most this many distinct values at fit time is written as one category token instead of its characters:
    /// each of its values gets its own token id, as one-hot encoding gives trees. A categorical column of n characters
    /// otherwise takes n positions, and the mixer's cost grows with positions (the square, for token mixing); values
    /// unseen at fit time become the unknown token. Fields with a width override keep characters. 0 writes every text
    /// field as characters (the paper's way). Default 64 (benchmarks/results/Defaults.md#category-tokens).
    /// </summary>
    public int MaxCategories { get; set; } = 64;

    /// <summary>Characters per field in the paper layout (the paper's <c>n_taken</c>, default 4).</summary>
    public int PaperFieldWidth { get; set; } = 4;

    /// <summary>Per-column (or per-field) overrides of the learned layout.</summary>
    public CharacterEncodingColumnOverride[] ColumnOverrides { get; set; } = [];
}

/// <summary>
/// Overrides the learned layout of one column (all its slots, for a vector) or one field (a vector slot, by field
/// name). A field-name match wins over a column-name match.
/// </summary>
public sealed class CharacterEncodingColumnOverride
{
    /// <summary>The column name, or a field name such as <c>"Pixels[3]"</c>.</summary>
    public string Name { get; set; } = "";

    /// <summary>
    /// Characters in the field. Text: the width (values longer are cut to their first characters). Numbers: the
    /// whole width including sign and decimals; the integer digits are what remains, and values needing more
    /// become the overflow marker. Not allowed for Boolean and date fields, whose widths are fixed by their format.
    /// </summary>
    public int? Width { get; set; }

    /// <summary>Decimals of a numeric field (0 for whole numbers); values are rounded to this many.</summary>
    public int? Decimals { get; set; }
}
