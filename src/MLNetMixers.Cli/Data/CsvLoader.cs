using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetMixers.Cli.Data;

/// <summary>Loads a sniffed CSV as an <see cref="IDataView"/>: numbers as Single, the rest as text.</summary>
internal static class CsvLoader
{
    /// <param name="textColumns">Columns forced to text whatever their inferred kind (a classification label such as 0/1).</param>
    public static CsvDataView Load(CsvSchema schema, IReadOnlySet<string>? textColumns = null)
        => CsvDataView.Create(schema, [.. schema.Columns.Select(c => KindOf(c, textColumns))], unreadable: null);

    /// <summary>
    /// Loads with the column types a saved model expects (by name); columns the model does not use load as text.
    /// Values a numeric column cannot read go to <paramref name="unreadable"/> (and score as missing).
    /// </summary>
    public static CsvDataView Load(CsvSchema schema, DataViewSchema modelInput, List<UnreadableValue> unreadable)
    {
        var types = schema.Columns.Select(c =>
        {
            var expected = modelInput.GetColumnOrNull(c.Name);
            return expected?.Type switch
            {
                null => KindOf(c, null),
                NumberDataViewType n when n.RawType == typeof(float) || n.RawType == typeof(double) => n,
                TextDataViewType t => t,
                BooleanDataViewType b => b,
                var other => throw new CliException($"The model expects column '{c.Name}' of type {other}, which a CSV column cannot provide."),
            };
        }).ToList();
        return CsvDataView.Create(schema, types, unreadable);
    }

    /// <summary>One warning per column with values that are not numbers: how many, and the first few with their lines.</summary>
    public static IEnumerable<string> Describe(IEnumerable<UnreadableValue> unreadable, string file)
        => unreadable.GroupBy(u => u.Column).Select(g =>
            $"Column '{g.Key}' of '{file}' is numeric in the model, but {g.Count()} value(s) are not numbers and are scored as missing: " +
            string.Join(", ", g.Take(3).Select(u => $"'{u.Value}' at line {u.Line}")) + (g.Count() > 3 ? ", ..." : "") + ".");

    private static DataViewType KindOf(CsvColumn column, IReadOnlySet<string>? textColumns)
        => column.Kind == CsvColumnKind.Numeric && textColumns?.Contains(column.Name) != true ? NumberDataViewType.Single : TextDataViewType.Instance;
}
