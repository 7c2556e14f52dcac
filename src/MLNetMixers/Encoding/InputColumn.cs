using Microsoft.ML.Data;

namespace MLNetMixers.Encoding;

/// <summary>The item types the encoder reads (a key column records its raw type in <see cref="InputColumn.KeyRawKind"/>).</summary>
internal enum InputKind : byte
{
    Single = 1, Double, SByte, Byte, Int16, UInt16, Int32, UInt32, Int64, UInt64,
    Boolean, Text, DateTime, DateTimeOffset, Key,
}

/// <summary>An input column as fitted: name, item kind, vector size (0 for a scalar).</summary>
internal sealed record InputColumn(string Name, InputKind Kind, InputKind KeyRawKind, int VectorSize)
{
    public const string SupportedTypes =
        "Single, Double, signed or unsigned integer, Boolean, Text, DateTime, DateTimeOffset or key, or a known-size vector of these";

    public bool IsVector => VectorSize > 0;

    public int FieldCount => IsVector ? VectorSize : 1;

    /// <summary>Describes a column type, or returns null when the encoder cannot read it.</summary>
    public static InputColumn? TryDescribe(string name, DataViewType type)
    {
        int size = 0;
        if (type is VectorDataViewType vector)
        {
            if (!vector.IsKnownSize || vector.Dimensions.Length != 1)
                return null;
            size = vector.Size;
            type = vector.ItemType;
        }
        if (type is KeyDataViewType key)
        {
            var raw = KindOf(key.RawType);
            return raw is InputKind.Byte or InputKind.UInt16 or InputKind.UInt32 or InputKind.UInt64
                ? new InputColumn(name, InputKind.Key, raw.Value, size)
                : null;
        }
        if (type is TextDataViewType)
            return new InputColumn(name, InputKind.Text, 0, size);
        if (type is BooleanDataViewType)
            return new InputColumn(name, InputKind.Boolean, 0, size);
        if (type is DateTimeDataViewType)
            return new InputColumn(name, InputKind.DateTime, 0, size);
        if (type is DateTimeOffsetDataViewType)
            return new InputColumn(name, InputKind.DateTimeOffset, 0, size);
        if (type is NumberDataViewType)
        {
            var kind = KindOf(type.RawType);
            return kind is null ? null : new InputColumn(name, kind.Value, 0, size);
        }
        return null;
    }

    /// <summary>Whether a column met at transform time can be read with this fitted description.</summary>
    public bool Accepts(DataViewType type)
    {
        var actual = TryDescribe(Name, type);
        return actual is not null && actual.Kind == Kind && actual.KeyRawKind == KeyRawKind && actual.VectorSize == VectorSize;
    }

    public bool IsFloatingPoint => Kind is InputKind.Single or InputKind.Double;

    public bool IsInteger => Kind is InputKind.SByte or InputKind.Byte or InputKind.Int16 or InputKind.UInt16
        or InputKind.Int32 or InputKind.UInt32 or InputKind.Int64 or InputKind.UInt64;

    private static InputKind? KindOf(Type raw) =>
        raw == typeof(float) ? InputKind.Single :
        raw == typeof(double) ? InputKind.Double :
        raw == typeof(sbyte) ? InputKind.SByte :
        raw == typeof(byte) ? InputKind.Byte :
        raw == typeof(short) ? InputKind.Int16 :
        raw == typeof(ushort) ? InputKind.UInt16 :
        raw == typeof(int) ? InputKind.Int32 :
        raw == typeof(uint) ? InputKind.UInt32 :
        raw == typeof(long) ? InputKind.Int64 :
        raw == typeof(ulong) ? InputKind.UInt64 : null;
}
