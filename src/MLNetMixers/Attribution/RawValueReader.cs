using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetMixers.Encoding;

namespace MLNetMixers.Attribution;

/// <summary>
/// Reads each encoded field's raw value from the current row as display text: the report shows what the data holds,
/// not the encoder's symbols (a number encoded as one value token is a single letter).
/// </summary>
internal static class RawValueReader
{
    /// <summary>A function returning the current row's value of every field (null where the source column is absent).</summary>
    public static Func<string?[]> Create(DataViewRow row, IReadOnlyList<DataViewSchema.Column> sources, IReadOnlyList<EncodedField> fields)
    {
        var readers = new Dictionary<string, Func<int, string>>();
        foreach (var column in sources)
        {
            var method = typeof(RawValueReader).GetMethod(nameof(ReaderOf), System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!
                .MakeGenericMethod(column.Type.GetItemType().RawType);
            readers[column.Name] = (Func<int, string>)method.Invoke(null, [row, column])!;
        }
        return () => fields.Select(f => readers.TryGetValue(f.SourceColumn, out var read) ? read(f.Slot) : null).ToArray();
    }

    private static Func<int, string> ReaderOf<T>(DataViewRow row, DataViewSchema.Column column)
    {
        var keyValues = KeyValues(column);
        if (column.Type is VectorDataViewType)
        {
            var getter = row.GetGetter<VBuffer<T>>(column);
            VBuffer<T> values = default;
            return slot =>
            {
                getter(ref values);
                return slot >= 0 && slot < values.Length ? Show(values.GetItemOrDefault(slot), keyValues) : "";
            };
        }
        var scalar = row.GetGetter<T>(column);
        T value = default!;
        return _ =>
        {
            scalar(ref value);
            return Show(value, keyValues);
        };
    }

    /// <summary>A key column's text values, so that a key shows as its category rather than its index.</summary>
    private static string[]? KeyValues(DataViewSchema.Column column)
    {
        if (column.Type.GetItemType() is not KeyDataViewType || column.Annotations.Schema.GetColumnOrNull(AnnotationUtils.Kinds.KeyValues) is not { Type: VectorDataViewType { ItemType: TextDataViewType } })
            return null;
        VBuffer<ReadOnlyMemory<char>> values = default;
        column.GetKeyValues(ref values);
        return values.DenseValues().Select(v => v.ToString()).ToArray();
    }

    private static string Show<T>(T value, string[]? keyValues) => value switch
    {
        float f when float.IsNaN(f) => "",
        double d when double.IsNaN(d) => "",
        float f => f.ToString("G7", CultureInfo.InvariantCulture),
        double d => d.ToString("G10", CultureInfo.InvariantCulture),
        ReadOnlyMemory<char> text => text.ToString(),
        bool b => b ? "True" : "False",
        DateTime t => t.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture),
        DateTimeOffset t => t.ToString("yyyy-MM-dd HH:mm:ss zzz", CultureInfo.InvariantCulture),
        uint key when keyValues is not null => key == 0 || key > keyValues.Length ? "" : keyValues[key - 1],
        IFormattable number => number.ToString(null, CultureInfo.InvariantCulture),
        _ => value?.ToString() ?? "",
    };
}
