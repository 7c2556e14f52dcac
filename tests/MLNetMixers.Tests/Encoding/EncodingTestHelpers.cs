using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetMixers.Tests.Encoding;

/// <summary>Reads encoded rows back, both through the internal row encoder and the public output column.</summary>
internal static class EncodingTestHelpers
{
    /// <summary>Token ids of every row, through the allocation-free row encoder.</summary>
    /// <summary>A row of <see cref="NumberTable"/>.</summary>
    public sealed class NumberRow
    {
        public float Value { get; set; }
        public int Count { get; set; }
        public float Constant { get; set; }
    }

    /// <summary>100 rows: Value 0.5 to 50 rising, Count 999 to 900 falling, Constant 3; then Value NaN, Count 7.</summary>
    public static IDataView NumberTable(MLContext ml) => ml.Data.LoadFromEnumerable(Enumerable.Range(1, 100)
        .Select(i => new NumberRow { Value = i * 0.5f, Count = 1000 - i, Constant = 3 }).Append(new NumberRow { Value = float.NaN, Count = 7, Constant = 3 }).ToList());

    public static int[][] EncodeRows(CharacterEncodingTransformer transformer, IDataView data)
    {
        var rows = new List<int[]>();
        using var cursor = data.GetRowCursor(data.Schema);
        var encoder = transformer.BindRowEncoder(cursor);
        while (cursor.MoveNext())
        {
            var tokens = new int[transformer.SequenceLength];
            encoder.Encode(tokens);
            rows.Add(tokens);
        }
        return rows.ToArray();
    }

    /// <summary>The output column's keys of every row (key = token id + 1).</summary>
    public static uint[][] ReadKeys(IDataView transformed, string column = "Features")
    {
        var rows = new List<uint[]>();
        using var cursor = transformed.GetRowCursor(transformed.Schema[column]);
        var getter = cursor.GetGetter<VBuffer<uint>>(transformed.Schema[column]);
        VBuffer<uint> value = default;
        while (cursor.MoveNext())
        {
            getter(ref value);
            rows.Add(value.DenseValues().ToArray());
        }
        return rows.ToArray();
    }

    public static string[] ReadText(IDataView data, string column)
    {
        var rows = new List<string>();
        using var cursor = data.GetRowCursor(data.Schema[column]);
        var getter = cursor.GetGetter<ReadOnlyMemory<char>>(data.Schema[column]);
        ReadOnlyMemory<char> value = default;
        while (cursor.MoveNext())
        {
            getter(ref value);
            rows.Add(value.ToString());
        }
        return rows.ToArray();
    }

    /// <summary>The characters of one field of an encoded row, reserved tokens as their key-value text.</summary>
    public static string FieldText(CharacterEncodingTransformer transformer, int[] row, string fieldName)
    {
        var field = transformer.Fields.Single(f => f.Name == fieldName);
        return string.Concat(row.Skip(field.Start).Take(field.Width).Select(transformer.TokenText));
    }
}
