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
}
