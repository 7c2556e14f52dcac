using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNetMixers.Encoding;

namespace MLNetMixers;

/// <summary>
/// Encodes each row of mixed columns as one fixed-length sequence of character tokens: every field gets a fixed
/// number of characters learned at fit time, so the same position always means the same field and character
/// (Badger, "Small Language Models for Tabular Data", 2022). Reached through
/// <c>mlContext.Transforms.EncodeAsCharacters</c>.
/// </summary>
/// <remarks>
/// <para><b>Input columns.</b> Single, Double, SByte, Byte, Int16, UInt16, Int32, UInt32, Int64, UInt64, Boolean,
/// Text, DateTime, DateTimeOffset, key columns, and known-size vectors of these (each slot is one field named
/// <c>Column[i]</c>, or <c>Column.SlotName</c> when the column has slot names). Other types fail in
/// <see cref="GetOutputSchema"/> with the column's name and type.</para>
/// <para><b>Output column.</b> A known-size vector of <c>Key&lt;UInt32&gt;</c> (length = sequence length, key count =
/// vocabulary size). Key value = token id + 1; token ids 0 padding, 1 separator, 2 missing, 3 unknown, then the
/// learned characters in ordinal order. Slot names name each position (<c>Age[0]</c>, <c>&lt;sep&gt;</c>) and key
/// values give each token's text, so <c>MapKeyToValue</c> works. Characters not seen at fit time become the
/// unknown token.</para>
/// <para><b>Numbers</b> (the <see cref="CharacterEncodingLayout.Fitted"/> layout) use one fixed-point format per
/// column: a sign position if any fitted value was negative ('+' or '-'), the integer digits of the largest fitted
/// magnitude, zero-padded, then '.' and the decimals (learned: the fewest that write every fitted value exactly,
/// at most <see cref="CharacterEncodingOptions.MaxDecimals"/>; integer columns have none). So <c>7.25</c> and
/// <c>71.2833</c> in one column become <c>07.2500</c> and <c>71.2833</c>: each position is one place value. Values
/// are rounded half away from zero, never cut. <b>Out of range</b> at transform time (the rounded value needs more
/// integer digits than fitted, or is negative in a column without a sign position), a value is written as the
/// saturating overflow marker: '#' in every position, the first being '-' for a negative value. Leading digits are
/// never dropped silently. Missing values fill the field with the missing token; NaN is ML.NET's missing value for
/// Single/Double and encodes as missing unless <see cref="CharacterEncodingOptions.DistinguishNaN"/> is set (then
/// '?' in every position); +Infinity is '&gt;' and -Infinity '&lt;' in every position; zero is an ordinary number.
/// A number field holds at most 19 digits: decimals give way first, and magnitudes of 10^19 or more are written as
/// overflow. Key columns without key values are numbers: the zero-based key index (key 0, the missing key, is
/// missing), wide enough for every key of the type.</para>
/// <para><b>Text</b> (and key columns with text key values) with at most
/// <see cref="CharacterEncodingOptions.MaxCategories"/> distinct fitted values is one category token: each fitted
/// value has its own token id (key value <c>Field=value</c>), unseen values are unknown, missing values missing.
/// Other text keeps the first N characters, N = the longest fitted
/// value capped by <see cref="CharacterEncodingOptions.MaxTextWidth"/>; longer values are cut to their first N
/// characters; shorter ones are padded on the right. A null value (and any listed in
/// <see cref="CharacterEncodingOptions.MissingTextValues"/>) is missing; the empty string is all padding.</para>
/// <para><b>Booleans</b> are one character, 'T' or 'F'. <b>Dates</b> are <c>yyyyMMdd</c>, plus <c>HHmm</c> when
/// any fitted value had a time of day, <c>ss</c> when any had seconds, and <c>+HHmm</c> when DateTimeOffset
/// values had different offsets (with one offset, values are shown in it); finer parts are floored. The default
/// date (0001-01-01, what loaders give for a missing date) is missing.</para>
/// <para>The transformer is immutable, saves into the ML.NET model zip, and encodes rows without allocating.</para>
/// </remarks>
public sealed class CharacterEncodingEstimator : IEstimator<CharacterEncodingTransformer>
{
    private readonly IHost host;
    private readonly CharacterEncodingOptions options;

    internal CharacterEncodingEstimator(IHostEnvironment env, CharacterEncodingOptions options)
    {
        Contracts.CheckValue(env, nameof(env));
        host = env.Register(nameof(CharacterEncodingEstimator));
        host.CheckValue(options, nameof(options));
        host.CheckNonEmpty(options.OutputColumnName, nameof(options.OutputColumnName));
        host.CheckUserArg(options.MaxTextWidth >= 1, nameof(options.MaxTextWidth), "must be at least 1");
        host.CheckUserArg(options.MaxDecimals is >= 0 and < NumberFormat.MaxDigits, nameof(options.MaxDecimals), $"must be 0 to {NumberFormat.MaxDigits - 1}");
        host.CheckUserArg(options.MaxRangeDigits is null or >= 1, nameof(options.MaxRangeDigits), "must be at least 1, or null for no cap");
        host.CheckUserArg(options.PaperFieldWidth >= 1, nameof(options.PaperFieldWidth), "must be at least 1");
        host.CheckUserArg(options.MaxCategories >= 0, nameof(options.MaxCategories), "must be 0 (off) or more");
        host.CheckUserArg(options.EncodedTextColumnName != options.OutputColumnName, nameof(options.EncodedTextColumnName), "must differ from the output column name");
        // Copy, so changing the caller's options object later cannot change this estimator.
        this.options = new CharacterEncodingOptions
        {
            OutputColumnName = options.OutputColumnName,
            InputColumnNames = [.. options.InputColumnNames ?? []],
            ExcludedColumns = [.. options.ExcludedColumns ?? []],
            Layout = options.Layout,
            MaxTextWidth = options.MaxTextWidth,
            MaxDecimals = options.MaxDecimals,
            MaxRangeDigits = options.MaxRangeDigits,
            NumberDeciles = options.NumberDeciles,
            NumberValueTokens = options.NumberValueTokens,
            InsertSeparators = options.InsertSeparators || options.Layout == CharacterEncodingLayout.PaperCompatible,
            EncodedTextColumnName = string.IsNullOrEmpty(options.EncodedTextColumnName) ? null : options.EncodedTextColumnName,
            MissingTextValues = [.. options.MissingTextValues ?? []],
            DistinguishNaN = options.DistinguishNaN,
            PaperFieldWidth = options.PaperFieldWidth,
            MaxCategories = options.MaxCategories,
            ColumnOverrides = (options.ColumnOverrides ?? []).Select(o => new CharacterEncodingColumnOverride { Name = o.Name, Width = o.Width, Decimals = o.Decimals }).ToArray(),
        };
        foreach (var o in this.options.ColumnOverrides)
            host.CheckUserArg(!string.IsNullOrEmpty(o.Name), nameof(options.ColumnOverrides), "every override needs a Name");
    }

    /// <summary>
    /// Learns each field's layout and the character vocabulary from <paramref name="input"/> (one pass) and returns
    /// the immutable transformer.
    /// </summary>
    public CharacterEncodingTransformer Fit(IDataView input)
    {
        host.CheckValue(input, nameof(input));
        var inputs = ResolveInputs(input.Schema);
        var characters = new HashSet<char>();
        var statistics = new List<FieldStatistics>();
        var perColumn = new FieldVisitor?[inputs.Count][];
        for (int c = 0; c < inputs.Count; c++)
        {
            var column = input.Schema[inputs[c].Name];
            var names = FieldNames(column, inputs[c]);
            perColumn[c] = new FieldVisitor?[names.Length];
            for (int slot = 0; slot < names.Length; slot++)
            {
                if (IsExcluded(names[slot]))
                    continue;
                var stats = FieldStatistics.Create(names[slot], inputs[c], inputs[c].IsVector ? slot : -1, column, options, characters);
                statistics.Add(stats);
                perColumn[c][slot] = stats;
            }
        }
        if (statistics.Count == 0)
            throw host.Except("EncodeAsCharacters has no fields to encode: every input column or field is excluded.");
        CheckOverridesExist(inputs, statistics);

        using (var ch = host.Start("Fitting character encoding"))
        {
            var active = inputs.Select(i => input.Schema[i.Name]).ToArray();
            using var cursor = input.GetRowCursor(active);
            var readers = new ColumnReader[inputs.Count];
            for (int c = 0; c < inputs.Count; c++)
            {
                int n = perColumn[c].Length;
                readers[c] = ColumnReader.Create(cursor, inputs[c], perColumn[c], new int[n], new int[n]);
            }
            long rows = 0;
            using var progress = host.StartProgressChannel("Fitting character encoding");
            progress.SetHeader(new ProgressHeader(["rows"]), e => e.SetProgress(0, rows));
            while (cursor.MoveNext())
            {
                foreach (var reader in readers)
                    reader.Read(Span<int>.Empty);
                rows++;
            }

            var layouts = new List<FieldLayout>(statistics.Count);
            int position = 0;
            foreach (var stats in statistics)
            {
                if (layouts.Count > 0 && options.InsertSeparators)
                    position++;
                var layout = stats.Build(FindOverride(options, stats.Name, stats.Input.Name), characters);
                layout = layout.WithField(layout.Field with { Start = position });
                position += layout.Field.Width;
                layouts.Add(layout);
            }
            var vocabulary = CharacterVocabulary.For(characters, layouts);
            var settings = new EncodingSettings(options.Layout, options.InsertSeparators, options.DistinguishNaN, options.MissingTextValues, options.PaperFieldWidth);
            ch.Info($"Character encoding fitted on {rows} rows: {layouts.Count} fields, sequence length {position}, vocabulary {vocabulary.Size} tokens.");
            foreach (var layout in layouts)
                ch.Trace(layout.Describe());
            return new CharacterEncodingTransformer(host, inputs.ToArray(), layouts.ToArray(), vocabulary, settings, options.OutputColumnName, options.EncodedTextColumnName);
        }
    }

    /// <summary>
    /// Checks the input columns (present, of a supported type) and returns the schema with the output column: a
    /// known-size vector of keys with slot names and key values, plus the encoded-text column when requested.
    /// </summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        host.CheckValue(inputSchema, nameof(inputSchema));
        var names = options.InputColumnNames.Length > 0
            ? options.InputColumnNames
            : inputSchema.Where(c => IsAutoCandidate(c.Name) && DescribeShape(c) is not null).Select(c => c.Name).ToArray();
        foreach (var name in names)
        {
            if (!inputSchema.TryFindColumn(name, out var column))
                throw host.ExceptSchemaMismatch(nameof(inputSchema), "input", name);
            if (DescribeShape(column) is null)
                throw host.ExceptSchemaMismatch(nameof(inputSchema), "input", name, InputColumn.SupportedTypes, ShapeTypeText(column));
        }
        if (names.Length == 0)
            throw host.Except("EncodeAsCharacters found no input column of a supported type.");

        var result = inputSchema.ToDictionary(c => c.Name);
        var annotations = new SchemaShape(
        [
            new SchemaShape.Column(AnnotationUtils.Kinds.SlotNames, SchemaShape.Column.VectorKind.Vector, TextDataViewType.Instance, false),
            new SchemaShape.Column(AnnotationUtils.Kinds.KeyValues, SchemaShape.Column.VectorKind.Vector, TextDataViewType.Instance, false),
        ]);
        result[options.OutputColumnName] = new SchemaShape.Column(options.OutputColumnName, SchemaShape.Column.VectorKind.Vector, NumberDataViewType.UInt32, true, annotations);
        if (options.EncodedTextColumnName is { } textColumn)
            result[textColumn] = new SchemaShape.Column(textColumn, SchemaShape.Column.VectorKind.Scalar, TextDataViewType.Instance, false);
        return new SchemaShape(result.Values);
    }

    /// <summary>The override for a field: a field-name match wins over a column-name match.</summary>
    internal static CharacterEncodingColumnOverride? FindOverride(CharacterEncodingOptions options, string fieldName, string columnName)
        => options.ColumnOverrides.FirstOrDefault(o => o.Name == fieldName) ?? options.ColumnOverrides.FirstOrDefault(o => o.Name == columnName);

    private List<InputColumn> ResolveInputs(DataViewSchema schema)
    {
        var result = new List<InputColumn>();
        if (options.InputColumnNames.Length == 0)
        {
            foreach (var column in schema)
            {
                if (!column.IsHidden && IsAutoCandidate(column.Name) && InputColumn.TryDescribe(column.Name, column.Type) is { } described)
                    result.Add(described);
            }
            if (result.Count == 0)
                throw host.Except("EncodeAsCharacters found no input column of a supported type (" + InputColumn.SupportedTypes + ").");
            return result;
        }
        foreach (var name in options.InputColumnNames)
        {
            host.CheckNonEmpty(name, nameof(options.InputColumnNames));
            if (!schema.TryGetColumnIndex(name, out int index))
                throw host.ExceptSchemaMismatch(nameof(schema), "input", name);
            var column = schema[index];
            var described = InputColumn.TryDescribe(name, column.Type)
                ?? throw host.ExceptSchemaMismatch(nameof(schema), "input", name, InputColumn.SupportedTypes, column.Type.ToString());
            if (result.Any(r => r.Name == name))
                throw host.ExceptUserArg(nameof(options.InputColumnNames), $"Column '{name}' is listed twice.");
            if (!IsExcluded(name))
                result.Add(described);
        }
        if (result.Count == 0)
            throw host.Except("EncodeAsCharacters has no fields to encode: every input column is excluded.");
        return result;
    }

    private bool IsAutoCandidate(string name)
        => name != options.OutputColumnName && name != options.EncodedTextColumnName && !IsExcluded(name);

    private bool IsExcluded(string name) => options.ExcludedColumns.Contains(name);

    private void CheckOverridesExist(List<InputColumn> inputs, List<FieldStatistics> statistics)
    {
        foreach (var o in options.ColumnOverrides)
        {
            if (!inputs.Any(i => i.Name == o.Name) && !statistics.Any(s => s.Name == o.Name))
                throw host.ExceptUserArg(nameof(options.ColumnOverrides), $"The override names '{o.Name}', which is not an encoded column or field.");
        }
    }

    /// <summary>Field names of a column: its name, or <c>Column[i]</c> / <c>Column.SlotName</c> per vector slot.</summary>
    internal static string[] FieldNames(DataViewSchema.Column column, InputColumn input)
    {
        if (!input.IsVector)
            return [input.Name];
        VBuffer<ReadOnlyMemory<char>> slotNames = default;
        if (column.HasSlotNames(input.VectorSize))
            column.GetSlotNames(ref slotNames);
        var names = new string[input.VectorSize];
        for (int i = 0; i < names.Length; i++)
        {
            var slot = slotNames.Length == input.VectorSize ? slotNames.GetItemOrDefault(i) : default;
            names[i] = slot.IsEmpty ? $"{input.Name}[{i}]" : $"{input.Name}.{slot}";
        }
        // Field names identify fields (overrides, attribution): repeated slot names fall back to the index form.
        var repeated = names.GroupBy(n => n).Where(g => g.Count() > 1).Select(g => g.Key).ToHashSet();
        for (int i = 0; i < names.Length; i++)
        {
            if (repeated.Contains(names[i]))
                names[i] = $"{input.Name}[{i}]";
        }
        return names;
    }

    private static string? DescribeShape(SchemaShape.Column column)
    {
        if (column.Kind == SchemaShape.Column.VectorKind.VariableVector)
            return null;
        var type = column.ItemType;
        if (column.IsKey)
            return type.RawType == typeof(byte) || type.RawType == typeof(ushort) || type.RawType == typeof(uint) || type.RawType == typeof(ulong) ? "key" : null;
        return InputColumn.TryDescribe(column.Name, type) is null ? null : type.ToString() ?? "";
    }

    private static string ShapeTypeText(SchemaShape.Column column) => column.Kind switch
    {
        SchemaShape.Column.VectorKind.VariableVector => $"Vector<{column.ItemType}> of unknown size",
        SchemaShape.Column.VectorKind.Vector => $"Vector<{column.ItemType}>",
        _ => column.IsKey ? $"Key<{column.ItemType}>" : $"{column.ItemType}",
    };
}
