using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetMixers.Cli.Data;

/// <summary>Loads a sniffed CSV as an <see cref="IDataView"/> through ML.NET's text loader: numbers as Single, the rest as text.</summary>
internal static class CsvLoader
{
    /// <param name="textColumns">Columns forced to text whatever their inferred kind (a classification label such as 0/1).</param>
    public static IDataView Load(MLContext mlContext, CsvSchema schema, IReadOnlySet<string>? textColumns = null)
    {
        var columns = schema.Columns
            .Select(c => new TextLoader.Column(c.Name, KindOf(c, textColumns), c.Index))
            .ToArray();
        return Load(mlContext, schema, columns);
    }

    /// <summary>Loads with the column types a saved model expects (by name); columns the model does not use load as text.</summary>
    public static IDataView Load(MLContext mlContext, CsvSchema schema, DataViewSchema modelInput)
    {
        var columns = schema.Columns.Select(c =>
        {
            var expected = modelInput.GetColumnOrNull(c.Name);
            DataKind kind = expected?.Type switch
            {
                null => KindOf(c, null),
                NumberDataViewType n when n.RawType == typeof(float) => DataKind.Single,
                NumberDataViewType n when n.RawType == typeof(double) => DataKind.Double,
                TextDataViewType => DataKind.String,
                BooleanDataViewType => DataKind.Boolean,
                var other => throw new CliException($"The model expects column '{c.Name}' of type {other}, which a CSV column cannot provide."),
            };
            return new TextLoader.Column(c.Name, kind, c.Index);
        }).ToArray();
        return Load(mlContext, schema, columns);
    }

    private static IDataView Load(MLContext mlContext, CsvSchema schema, TextLoader.Column[] columns)
    {
        var options = new TextLoader.Options
        {
            Columns = columns,
            Separators = [schema.Separator],
            HasHeader = schema.HasHeader,
            AllowQuoting = true,
            ReadMultilines = schema.HasQuotedNewlines,
            TrimWhitespace = false,
            MissingRealsAsNaNs = true,
        };
        return mlContext.Data.LoadFromTextFile(schema.Path, options);
    }

    private static DataKind KindOf(CsvColumn column, IReadOnlySet<string>? textColumns)
        => column.Kind == CsvColumnKind.Numeric && textColumns?.Contains(column.Name) != true ? DataKind.Single : DataKind.String;
}
