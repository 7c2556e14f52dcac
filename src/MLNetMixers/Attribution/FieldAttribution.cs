using MLNetMixers.Encoding;

namespace MLNetMixers.Attribution;

/// <summary>Per-field aggregation and normalisation of per-character attributions.</summary>
internal static class FieldAttribution
{
    /// <summary>One row: characters [T] -> fields [#fields].</summary>
    public static void Aggregate(ReadOnlySpan<float> characters, IReadOnlyList<EncodedField> fields, FieldAggregation aggregation, Span<float> destination)
    {
        for (int f = 0; f < fields.Count; f++)
        {
            var span = characters.Slice(fields[f].Start, fields[f].Width);
            double value = 0;
            foreach (float a in span)
            {
                value = aggregation switch
                {
                    FieldAggregation.Sum => value + a,
                    FieldAggregation.MaxAbsolute => Math.Max(value, Math.Abs(a)),
                    _ => value + Math.Abs(a),
                };
            }
            if (aggregation == FieldAggregation.MeanAbsolute && span.Length > 0)
                value /= span.Length;
            destination[f] = (float)value;
        }
    }

    /// <summary>Divides by the largest absolute value (no-op for an all-zero row).</summary>
    public static void NormalizeByMax(Span<float> values)
    {
        float max = CharacterAttributor.MaxAbs(values);
        if (max <= 0)
            return;
        foreach (ref float v in values)
            v /= max;
    }
}
