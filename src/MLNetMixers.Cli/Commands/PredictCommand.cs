using System.CommandLine;
using System.Globalization;
using System.Text;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetMixers.Cli.Data;
using MLNetMixers.Cli.Terminal;

namespace MLNetMixers.Cli.Commands;

/// <summary><c>predict</c>: a model zip + a CSV of raw rows -> a predictions CSV (the input columns plus the model's predictions).</summary>
internal static class PredictCommand
{
    private static readonly string[] PredictionColumns = ["PredictedClass", "PredictedLabel", "Probability", "Score"];

    public static Command Create(Option<bool> verbose)
    {
        var model = new Option<string>("--model", "-m") { Description = "A model zip written by the classification or regression command.", Required = true };
        var dataset = new Option<string>("--dataset", "-d") { Description = "A CSV with the model's input columns (the label may be absent).", Required = true };
        var output = new Option<string>("--output", "-o") { Description = "The predictions CSV to write.", DefaultValueFactory = _ => "predictions.csv" };
        var culture = CliApp.CultureOption();
        var command = new Command("predict", "Score the rows of a CSV file with a saved model; writes the rows with their predictions.") { model, dataset, output, culture };
        command.SetAction(parse =>
        {
            var ui = new ConsoleUi(parse.GetValue(verbose));
            CliApp.ApplyThreads(null);
            return Run(parse.GetValue(model)!, parse.GetValue(dataset)!, parse.GetValue(output)!, ui, CliApp.ParseCulture(parse.GetValue(culture)));
        });
        return command;
    }

    public static int Run(string modelPath, string datasetPath, string outputPath, ConsoleUi ui, NumberReader? numbers = null)
    {
        // The output is checked before anything is read or opened for writing: it must not be an input.
        string destination = StagedFile.Check(outputPath, [("--dataset", datasetPath), ("--model", modelPath)]);
        var mlContext = new MLContext(seed: 1) { FallbackToCpu = true };
        var (model, modelInput) = ModelFiles.Load(mlContext, modelPath);
        var schema = CsvSniffer.Sniff(datasetPath, numbers);
        if (schema.EncodingWarning is { } encoding)
            ui.Warning(encoding);
        var unreadable = new List<UnreadableValue>();
        var data = CsvLoader.Load(schema, modelInput, unreadable);
        foreach (string warning in CsvLoader.Describe(unreadable, Path.GetFileName(datasetPath)))
            ui.Warning(warning);
        var scored = ModelFiles.Apply(model, data, datasetPath);

        var outputs = PredictionColumns.Select(n => scored.Schema.GetColumnOrNull(n)).Where(c => c is not null).Select(c => c!.Value).ToList();
        if (outputs.Count == 0)
            throw new CliException($"'{modelPath}' produces none of the prediction columns {string.Join(", ", PredictionColumns)}; is it a prediction model?");

        long rows = StagedFile.Write(destination, outputPath, temp => Write(scored, schema, outputs, temp));
        ui.Line($"Wrote {rows} predictions to {destination}.");
        return 0;
    }

    /// <summary>The input columns exactly as read (the CSV's text, not the parsed numbers), then the model's predictions.</summary>
    private static long Write(IDataView scored, CsvSchema schema, IReadOnlyList<DataViewSchema.Column> outputs, string path)
    {
        using var writer = new StreamWriter(path, false, new UTF8Encoding(false));
        var header = new List<string>(schema.Columns.Select(c => c.Name));
        foreach (var column in outputs)
        {
            if (column.Type is VectorDataViewType vector)
                header.AddRange(SlotNames(column, vector.Size).Select(n => $"{column.Name}.{n}"));
            else
                header.Add(column.Name);
        }
        writer.WriteLine(string.Join(",", header.Select(Quote)));

        using var cursor = scored.GetRowCursor(outputs);
        var readers = outputs.Select(c => Reader(cursor, c)).ToList();
        long rows = 0;
        var fields = new List<string>();
        while (cursor.MoveNext())
        {
            fields.Clear();
            // Scoring keeps every row in file order, so row n is record n.
            fields.AddRange(schema.Records[(int)rows]);
            foreach (var read in readers)
                read(fields);
            writer.WriteLine(string.Join(",", fields.Select(Quote)));
            rows++;
        }
        return rows;
    }

    private static Action<List<string>> Reader(DataViewRowCursor cursor, DataViewSchema.Column column)
    {
        switch (column.Type)
        {
            case TextDataViewType:
            {
                var get = cursor.GetGetter<ReadOnlyMemory<char>>(column);
                ReadOnlyMemory<char> v = default;
                return f => { get(ref v); f.Add(v.ToString()); };
            }
            case BooleanDataViewType:
            {
                var get = cursor.GetGetter<bool>(column);
                bool v = false;
                return f => { get(ref v); f.Add(v ? "true" : "false"); };
            }
            case NumberDataViewType n when n.RawType == typeof(float):
            {
                var get = cursor.GetGetter<float>(column);
                float v = 0;
                return f => { get(ref v); f.Add(float.IsNaN(v) ? "" : v.ToString("R", CultureInfo.InvariantCulture)); };
            }
            case NumberDataViewType n when n.RawType == typeof(double):
            {
                var get = cursor.GetGetter<double>(column);
                double v = 0;
                return f => { get(ref v); f.Add(double.IsNaN(v) ? "" : v.ToString("R", CultureInfo.InvariantCulture)); };
            }
            case KeyDataViewType k when k.RawType == typeof(uint):
            {
                var get = cursor.GetGetter<uint>(column);
                uint v = 0;
                return f => { get(ref v); f.Add(v == 0 ? "" : v.ToString(CultureInfo.InvariantCulture)); };
            }
            case VectorDataViewType { ItemType: NumberDataViewType n } vector when n.RawType == typeof(float):
            {
                var get = cursor.GetGetter<VBuffer<float>>(column);
                VBuffer<float> v = default;
                return f =>
                {
                    get(ref v);
                    var dense = v.DenseValues().ToArray();
                    for (int i = 0; i < vector.Size; i++)
                        f.Add(i < dense.Length ? dense[i].ToString("R", CultureInfo.InvariantCulture) : "");
                };
            }
            default:
                throw new CliException($"Column '{column.Name}' has type {column.Type}, which the predictions CSV cannot hold.");
        }
    }

    private static IReadOnlyList<string> SlotNames(DataViewSchema.Column column, int size)
    {
        if (column.Annotations.Schema.GetColumnOrNull("SlotNames") is { Type: VectorDataViewType { Size: var count } } && count == size)
        {
            VBuffer<ReadOnlyMemory<char>> names = default;
            column.Annotations.GetValue("SlotNames", ref names);
            var dense = names.DenseValues().Select(n => n.ToString()).ToArray();
            if (dense.Length == size && dense.All(n => n.Length > 0))
                return dense;
        }
        return [.. Enumerable.Range(0, size).Select(i => i.ToString(CultureInfo.InvariantCulture))];
    }

    private static string Quote(string field)
        => field.IndexOfAny([',', '"', '\n', '\r']) >= 0 ? "\"" + field.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : field;
}
