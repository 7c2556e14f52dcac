using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetMixers.Cli.Data;

namespace MLNetMixers.Cli.Training;

/// <summary>What the CLI trains: chosen by the command, and for classification by the label's distinct values.</summary>
internal enum LearningTask { Binary, Multiclass, Regression }

/// <summary>
/// The label as the trainers see it: a bool for binary (true = <see cref="PositiveClass"/>), a key over
/// <see cref="Classes"/> for multiclass, a Single for regression. Rows whose label is missing are dropped and counted.
/// </summary>
internal sealed class LabelSpec
{
    /// <summary>More distinct labels than this is almost always a regression target given to classification.</summary>
    public const int MaxClasses = 100;

    private static readonly string[] PositiveSpellings = ["1", "true", "yes", "y", "t", "positive", "pos"];

    public required LearningTask Kind { get; init; }
    public required string RawColumn { get; init; }

    /// <summary>The prepared label column the trainers and evaluators use.</summary>
    public required string Column { get; init; }

    /// <summary>Class names (ordinal order for multiclass; [negative, positive] for binary); empty for regression.</summary>
    public required IReadOnlyList<string> Classes { get; init; }

    public string? PositiveClass => Kind == LearningTask.Binary ? Classes[1] : null;
    public string? NegativeClass => Kind == LearningTask.Binary ? Classes[0] : null;

    public int MissingLabelRows { get; init; }

    public static LabelSpec Create(CsvSchema schema, string labelColumn, bool regression, string? positiveClass)
    {
        var raw = schema.Require(labelColumn, "Label");
        string prepared = schema.Find("Label") is null ? "Label" : "__Label";
        if (raw.NonMissingCount == 0)
            throw new CliException($"Label column '{raw.Name}' has no values (all {schema.RowCount} rows are missing).");

        if (regression)
        {
            if (raw.Kind != CsvColumnKind.Numeric && raw.FirstNonNumeric is var (value, line))
            {
                throw new CliException(
                    $"Regression needs a numeric label, but column '{raw.Name}' holds '{value}' at line {line}. " +
                    "Use the classification command for categories, or clean the column.");
            }
            return new LabelSpec { Kind = LearningTask.Regression, RawColumn = raw.Name, Column = prepared, Classes = [], MissingLabelRows = raw.MissingCount };
        }

        var distinct = raw.Distinct;
        if (distinct is null || distinct.Count > MaxClasses)
        {
            throw new CliException(
                $"Label column '{raw.Name}' has {(distinct is null ? $"more than {CsvSniffer.MaxTrackedDistinct}" : distinct.Count.ToString())} distinct values; " +
                $"classification supports at most {MaxClasses} classes. Is it a numeric target? Then use the regression command.");
        }
        if (distinct.Count == 1)
        {
            throw new CliException(
                $"Label column '{raw.Name}' has only one class ('{distinct.Keys.Single()}'); classification needs at least two.");
        }
        if (distinct.Count == 2)
        {
            string positive = ChoosePositive(distinct, positiveClass, raw.Name);
            string negative = distinct.Keys.Single(k => k != positive);
            return new LabelSpec { Kind = LearningTask.Binary, RawColumn = raw.Name, Column = prepared, Classes = [negative, positive], MissingLabelRows = raw.MissingCount };
        }
        if (positiveClass is not null)
            throw new CliException($"--positive-class applies to two-class labels; '{raw.Name}' has {distinct.Count} classes.");
        return new LabelSpec
        {
            Kind = LearningTask.Multiclass,
            RawColumn = raw.Name,
            Column = prepared,
            Classes = [.. distinct.Keys.Order(StringComparer.Ordinal)],
            MissingLabelRows = raw.MissingCount,
        };
    }

    /// <summary>The label of a saved model's task, for scoring a labelled CSV with it (explain's permutation importance).</summary>
    public static LabelSpec ForModel(CsvSchema schema, string labelColumn, LearningTask kind, IReadOnlyList<string> classes)
    {
        var raw = schema.Require(labelColumn, "Label");
        if (kind == LearningTask.Regression && raw.Kind != CsvColumnKind.Numeric && raw.FirstNonNumeric is var (value, line))
            throw new CliException($"The model is a regression model, but label column '{raw.Name}' holds '{value}' at line {line}.");
        if (kind != LearningTask.Regression && raw.Distinct?.Keys.Where(k => !classes.Contains(k)).ToList() is { Count: > 0 } unknown)
            throw new CliException($"Label column '{raw.Name}' has value(s) the model does not know: {string.Join(", ", unknown.Take(10))} (model classes: {string.Join(", ", classes)}).");
        return new LabelSpec
        {
            Kind = kind,
            RawColumn = raw.Name,
            Column = schema.Find("Label") is null ? "Label" : "__Label",
            Classes = classes,
            MissingLabelRows = raw.MissingCount,
        };
    }

    /// <summary>
    /// The class a binary model scores: the one asked for, else the one spelled like "yes/true/1/positive", else
    /// the rarer class (usually the event of interest: default, churn, disease).
    /// </summary>
    private static string ChoosePositive(Dictionary<string, int> counts, string? requested, string column)
    {
        if (requested is not null)
        {
            return counts.ContainsKey(requested)
                ? requested
                : throw new CliException($"--positive-class '{requested}' is not a value of '{column}' (values: {string.Join(", ", counts.Keys)}).");
        }
        var spelled = counts.Keys.Where(k => PositiveSpellings.Contains(k.Trim().ToLowerInvariant()) || k.Contains("positive", StringComparison.OrdinalIgnoreCase)).ToList();
        if (spelled.Count == 1)
            return spelled[0];
        return counts.OrderBy(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal).First().Key;
    }

    /// <summary>Adds <see cref="Column"/> and drops the rows whose label is missing.</summary>
    public IDataView Prepare(MLContext mlContext, IDataView data)
    {
        if (Kind == LearningTask.Regression)
        {
            var filtered = mlContext.Data.FilterRowsByMissingValues(data, RawColumn);
            return RawColumn == Column ? filtered : mlContext.Transforms.CopyColumns(Column, RawColumn).Fit(filtered).Transform(filtered);
        }

        var copied = mlContext.Transforms.CopyColumns(RawLabelRow.ColumnName, RawColumn).Fit(data).Transform(data);
        var present = mlContext.Data.FilterByCustomPredicate<RawLabelRow>(copied, row => CsvSniffer.IsMissing(row.Value.ToString()));
        if (Kind == LearningTask.Binary)
        {
            var pairs = new[] { new KeyValuePair<string, bool>(Classes[0], false), new KeyValuePair<string, bool>(Classes[1], true) };
            return mlContext.Transforms.Conversion.MapValue(Column, pairs, RawLabelRow.ColumnName).Fit(present).Transform(present);
        }
        var keyData = mlContext.Data.LoadFromEnumerable(Classes.Select(c => new ClassName { Value = c }));
        return mlContext.Transforms.Conversion
            .MapValueToKey(Column, RawLabelRow.ColumnName, keyOrdinality: Microsoft.ML.Transforms.ValueToKeyMappingEstimator.KeyOrdinality.ByValue, keyData: keyData)
            .Fit(present).Transform(present);
    }

    private sealed class RawLabelRow
    {
        public const string ColumnName = "__RawLabel";

        [ColumnName(ColumnName)]
        public ReadOnlyMemory<char> Value { get; set; }
    }

    private sealed class ClassName
    {
        public string Value { get; set; } = "";
    }
}
