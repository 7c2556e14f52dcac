using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

namespace MLNetMixers.Text;

/// <summary>The checks a transformer that reads one text column makes of it, with the same messages everywhere.</summary>
internal static class TextColumn
{
    /// <summary>The index of <paramref name="name"/> in <paramref name="schema"/>; it must be there and scalar String.</summary>
    public static int Bind(IHost host, DataViewSchema schema, string name)
    {
        host.CheckValue(schema, nameof(schema));
        if (!schema.TryGetColumnIndex(name, out int index))
            throw host.ExceptSchemaMismatch(nameof(schema), "text", name);
        if (schema[index].Type is not TextDataViewType)
            throw host.ExceptSchemaMismatch(nameof(schema), "text", name, "String", schema[index].Type.ToString());
        return index;
    }

    /// <summary><paramref name="inputSchema"/> plus the Single column <paramref name="output"/>, once <paramref name="input"/> is found to be scalar text.</summary>
    public static SchemaShape WithOutput(SchemaShape inputSchema, string input, string output, SchemaShape.Column.VectorKind kind)
    {
        if (!inputSchema.TryFindColumn(input, out var column))
            throw new ArgumentOutOfRangeException(nameof(inputSchema), $"The data has no column '{input}'.");
        if (column.Kind != SchemaShape.Column.VectorKind.Scalar || column.ItemType is not TextDataViewType)
            throw new ArgumentOutOfRangeException(nameof(inputSchema), $"Column '{input}' must be a scalar String (text) column; it is {column.GetTypeString()}.");
        var result = inputSchema.ToDictionary(c => c.Name);
        result[output] = new SchemaShape.Column(output, kind, NumberDataViewType.Single, false);
        return new SchemaShape(result.Values);
    }

    /// <summary>
    /// A row's value computed from its text once, however many getters ask for it (ML.NET may call a getter more than
    /// once per row, and each computation here is a forward pass).
    /// </summary>
    public static Func<T> PerRow<T>(DataViewRow input, int textIndex, Func<string, T> compute)
    {
        var textGetter = input.GetGetter<ReadOnlyMemory<char>>(input.Schema[textIndex]);
        ReadOnlyMemory<char> text = default;
        long cachedPosition = -1;
        T cached = default!;
        return () =>
        {
            if (cachedPosition != input.Position)
            {
                textGetter(ref text);
                cached = compute(text.ToString());
                cachedPosition = input.Position;
            }
            return cached;
        };
    }

    /// <summary>A vector getter that copies the current row's values into the destination buffer.</summary>
    public static ValueGetter<VBuffer<float>> VectorGetter(Func<float[]> values)
        => (ref VBuffer<float> dst) =>
        {
            var current = values();
            var editor = VBufferEditor.Create(ref dst, current.Length);
            current.CopyTo(editor.Values);
            dst = editor.Commit();
        };
}
