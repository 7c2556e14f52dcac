using System.Reflection;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetMixers.Attribution;

/// <summary>
/// A data view whose one raw column has its values shuffled across rows (every other column untouched): the input of
/// column-level permutation importance. The column's values are read once into memory; rows are served in the
/// source's order.
/// </summary>
internal sealed class PermutedColumnView : IDataView
{
    private readonly IDataView source;
    private readonly int column;
    private readonly Delegate valueAt; // Func<long, ValueGetter<T>-style copy>, built per type

    private PermutedColumnView(IDataView source, int column, Delegate valueAt)
    {
        this.source = source;
        this.column = column;
        this.valueAt = valueAt;
    }

    /// <summary>Shuffles <paramref name="columnName"/> with <paramref name="random"/> (Fisher-Yates over the row indices).</summary>
    public static PermutedColumnView Create(IDataView source, string columnName, Random random)
    {
        var col = source.Schema.GetColumnOrNull(columnName)
            ?? throw new ArgumentException($"Column '{columnName}' is not in the data.", nameof(columnName));
        var type = col.Type.RawType;
        MethodInfo method;
        if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(VBuffer<>))
            method = typeof(PermutedColumnView).GetMethod(nameof(CreateVector), BindingFlags.NonPublic | BindingFlags.Static)!.MakeGenericMethod(type.GetGenericArguments()[0]);
        else
            method = typeof(PermutedColumnView).GetMethod(nameof(CreateScalar), BindingFlags.NonPublic | BindingFlags.Static)!.MakeGenericMethod(type);
        try
        {
            return (PermutedColumnView)method.Invoke(null, [source, col, random])!;
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            throw e.InnerException;
        }
    }

    private static PermutedColumnView CreateScalar<T>(IDataView source, DataViewSchema.Column col, Random random)
    {
        var values = new List<T>();
        using (var cursor = source.GetRowCursor([col]))
        {
            var getter = cursor.GetGetter<T>(col);
            T value = default!;
            while (cursor.MoveNext())
            {
                getter(ref value);
                // Text values may point into a loader's reused buffer: keep our own copy.
                values.Add(value is ReadOnlyMemory<char> text ? (T)(object)text.ToString().AsMemory() : value);
            }
        }
        var order = Shuffle(values.Count, random);
        ValueGetterAt<T> at = (long row, ref T dst) => dst = values[order[row]];
        return new PermutedColumnView(source, col.Index, at);
    }

    private static PermutedColumnView CreateVector<TItem>(IDataView source, DataViewSchema.Column col, Random random)
    {
        var values = new List<VBuffer<TItem>>();
        using (var cursor = source.GetRowCursor([col]))
        {
            var getter = cursor.GetGetter<VBuffer<TItem>>(col);
            VBuffer<TItem> value = default;
            while (cursor.MoveNext())
            {
                getter(ref value);
                VBuffer<TItem> copy = default;
                value.CopyTo(ref copy);
                values.Add(copy);
            }
        }
        var order = Shuffle(values.Count, random);
        ValueGetterAt<VBuffer<TItem>> at = (long row, ref VBuffer<TItem> dst) => values[order[row]].CopyTo(ref dst);
        return new PermutedColumnView(source, col.Index, at);
    }

    private delegate void ValueGetterAt<T>(long row, ref T dst);

    private static int[] Shuffle(int n, Random random)
    {
        var order = Enumerable.Range(0, n).ToArray();
        for (int i = n - 1; i > 0; i--)
        {
            int j = random.Next(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        return order;
    }

    public bool CanShuffle => false;

    public DataViewSchema Schema => source.Schema;

    public long? GetRowCount() => source.GetRowCount();

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
        => new Cursor(this, source.GetRowCursor(columnsNeeded));

    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null)
        => [GetRowCursor(columnsNeeded, rand)];

    private sealed class Cursor(PermutedColumnView view, DataViewRowCursor inner) : DataViewRowCursor
    {
        public override DataViewSchema Schema => inner.Schema;

        public override long Position => inner.Position;

        public override long Batch => inner.Batch;

        public override ValueGetter<DataViewRowId> GetIdGetter() => inner.GetIdGetter();

        public override bool IsColumnActive(DataViewSchema.Column column) => inner.IsColumnActive(column);

        public override bool MoveNext() => inner.MoveNext();

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            if (column.Index != view.column)
                return inner.GetGetter<TValue>(column);
            var at = (ValueGetterAt<TValue>)view.valueAt;
            return (ref TValue dst) => at(inner.Position, ref dst);
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
                inner.Dispose();
            base.Dispose(disposing);
        }
    }
}
