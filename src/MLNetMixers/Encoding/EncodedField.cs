namespace MLNetMixers.Encoding;

/// <summary>What a field holds, which decides its character format.</summary>
internal enum EncodedFieldKind : byte
{
    /// <summary>A number in a fixed-point format (also keys without key values: the zero-based key index).</summary>
    Number = 1,

    /// <summary>One character, <c>'T'</c> or <c>'F'</c>.</summary>
    Boolean = 2,

    /// <summary>Text (also keys with text key values): first characters, padded on the right.</summary>
    Text = 3,

    /// <summary>A DateTime or DateTimeOffset in a compact fixed format.</summary>
    Date = 4,
}

/// <summary>
/// One field of the encoded row: a scalar input column or one slot of a vector column, occupying
/// positions <see cref="Start"/> .. <see cref="Start"/> + <see cref="Width"/> - 1 of the sequence.
/// </summary>
/// <param name="Name">The input column name, or <c>"Column[i]"</c> / <c>"Column.SlotName"</c> for a vector slot.</param>
/// <param name="SourceColumn">The input column the field is read from (for permuting raw columns).</param>
/// <param name="Slot">The slot within a vector column, or -1 for a scalar column.</param>
/// <param name="Start">First position in the sequence.</param>
/// <param name="Width">Number of positions.</param>
/// <param name="Kind">What the field holds.</param>
internal sealed record EncodedField(string Name, string SourceColumn, int Slot, int Start, int Width, EncodedFieldKind Kind);
