using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetMixers.Cli.Data;

/// <summary>A value in a numeric column that is not a number: reported with its column, line and text, never silently missing.</summary>
internal sealed record UnreadableValue(string Column, long Line, string Value);

/// <summary>
/// The sniffed CSV's records as an <see cref="IDataView"/> in file order: numbers read with the file's
/// <see cref="NumberReader"/> (missing ones as NaN), everything else as text exactly as read. A view may hold a
/// subset of the rows (a train/test split); row ids are the record indices.
/// </summary>
internal sealed class CsvDataView : IDataView
{
    private readonly Array[] values;
    private readonly int[] rows;

    private CsvDataView(DataViewSchema schema, Array[] values, int[] rows)
    {
        Schema = schema;
        this.values = values;
        this.rows = rows;
    }

    public DataViewSchema Schema { get; }

    public bool CanShuffle => false;

    /// <summary>The record index (in <see cref="CsvSchema.Records"/>) of each row of this view.</summary>
    public IReadOnlyList<int> RecordIndices => rows;

    public static CsvDataView Create(CsvSchema csv, IReadOnlyList<DataViewType> types, List<UnreadableValue>? unreadable)
    {
        var builder = new DataViewSchema.Builder();
        var values = new Array[csv.Columns.Count];
        for (int c = 0; c < csv.Columns.Count; c++)
        {
            var column = csv.Columns[c];
            var type = types[c];
            builder.AddColumn(column.Name, type);
            values[c] = type switch
            {
                TextDataViewType => csv.Records.Select(r => r[c].AsMemory()).ToArray(),
                NumberDataViewType n when n.RawType == typeof(double) => Numbers(csv, c, unreadable),
                NumberDataViewType => Numbers(csv, c, unreadable).Select(v => (float)v).ToArray(),
                BooleanDataViewType => Booleans(csv, c, unreadable),
                _ => throw new CliException($"Column '{column.Name}' would need type {type}, which a CSV column cannot provide."),
            };
        }
        return new CsvDataView(builder.ToSchema(), values, [.. Enumerable.Range(0, csv.Records.Count)]);
    }

    /// <summary>A view of some of this view's rows (indices into this view), in the order given.</summary>
    public CsvDataView Subset(IEnumerable<int> positions) => new(Schema, values, [.. positions.Select(p => rows[p])]);

    private static double[] Numbers(CsvSchema csv, int c, List<UnreadableValue>? unreadable)
    {
        var result = new double[csv.Records.Count];
        for (int r = 0; r < result.Length; r++)
        {
            string text = csv.Records[r][c];
            if (CsvSniffer.IsMissing(text))
                result[r] = double.NaN;
            else if (csv.Numbers.TryParse(text, out double v))
                result[r] = v;
            else
            {
                result[r] = double.NaN;
                unreadable?.Add(new UnreadableValue(csv.Columns[c].Name, csv.RecordLines[r], text));
            }
        }
        return result;
    }

    private static bool[] Booleans(CsvSchema csv, int c, List<UnreadableValue>? unreadable)
    {
        var result = new bool[csv.Records.Count];
        for (int r = 0; r < result.Length; r++)
        {
            string text = csv.Records[r][c].Trim();
            if (bool.TryParse(text, out bool b))
                result[r] = b;
            else if (text is "1" or "0")
                result[r] = text == "1";
            else if (!CsvSniffer.IsMissing(text))
                unreadable?.Add(new UnreadableValue(csv.Columns[c].Name, csv.RecordLines[r], text));
        }
        return result;
    }

    public long? GetRowCount() => rows.Length;

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
        => new Cursor(this, rand is null ? rows : Shuffled(rand));

    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null)
        => [GetRowCursor(columnsNeeded, rand)];

    private int[] Shuffled(Random random)
    {
        var order = (int[])rows.Clone();
        random.Shuffle(order);
        return order;
    }

    private sealed class Cursor(CsvDataView view, int[] order) : DataViewRowCursor
    {
        private long position = -1;

        public override DataViewSchema Schema => view.Schema;
        public override long Position => position;
        public override long Batch => 0;

        public override bool MoveNext()
        {
            if (position + 1 >= order.Length)
            {
                position = order.Length;
                return false;
            }
            position++;
            return true;
        }

        public override bool IsColumnActive(DataViewSchema.Column column) => true;

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            if (view.values[column.Index] is not TValue[] array)
                throw new InvalidOperationException($"Column '{column.Name}' is {column.Type}, not {typeof(TValue).Name}.");
            return (ref TValue value) => value = array[order[position]];
        }

        public override ValueGetter<DataViewRowId> GetIdGetter()
            => (ref DataViewRowId id) => id = new DataViewRowId((ulong)order[position], 0);
    }
}
