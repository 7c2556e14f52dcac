using System.Runtime.InteropServices;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNetMixers;
using MLNetMixers.Encoding;

[assembly: LoadableClass(typeof(CharacterEncodingTransformer), null, typeof(SignatureLoadModel),
    "Mixer character encoding", CharacterEncodingTransformer.LoaderSignature)]
[assembly: LoadableClass(typeof(IRowMapper), typeof(CharacterEncodingTransformer), null, typeof(SignatureLoadRowMapper),
    "Mixer character encoding", CharacterEncodingTransformer.LoaderSignature)]

namespace MLNetMixers;

/// <summary>
/// The fitted character encoding (see <see cref="CharacterEncodingEstimator"/> for the format). Adds a known-size
/// vector of <c>Key&lt;UInt32&gt;</c> (token id + 1) with slot names and key values, and optionally a readable Text
/// column. Immutable; saves into and loads from the ML.NET model zip.
/// </summary>
public sealed class CharacterEncodingTransformer : RowToRowTransformerBase
{
    internal const string LoaderSignature = "MixerCharacterEncoding";

    private readonly InputColumn[] inputs;
    private readonly FieldLayout[] layouts;
    private readonly CharacterVocabulary vocabulary;
    private readonly EncodingSettings settings;
    private readonly string outputColumnName;
    private readonly string? textColumnName;
    private readonly int[] separatorPositions;
    private readonly int separatorToken;
    private readonly ReadOnlyMemory<char>[] slotNames;
    private readonly ReadOnlyMemory<char>[] keyValues;

    internal CharacterEncodingTransformer(IHostEnvironment env, InputColumn[] inputs, FieldLayout[] layouts, CharacterVocabulary vocabulary,
        EncodingSettings settings, string outputColumnName, string? textColumnName)
        : base(Contracts.CheckRef(env, nameof(env)).Register(nameof(CharacterEncodingTransformer)))
    {
        this.inputs = inputs;
        this.layouts = layouts;
        this.vocabulary = vocabulary;
        this.settings = settings;
        this.outputColumnName = outputColumnName;
        this.textColumnName = textColumnName;
        Fields = Array.AsReadOnly(layouts.Select(l => l.Field).ToArray());
        SequenceLength = layouts.Length == 0 ? 0 : layouts[^1].Field.Start + layouts[^1].Field.Width;

        var names = new string[SequenceLength];
        Array.Fill(names, "<sep>");
        foreach (var field in Fields)
        {
            for (int i = 0; i < field.Width; i++)
                names[field.Start + i] = $"{field.Name}[{i}]";
        }
        separatorPositions = Enumerable.Range(0, SequenceLength).Where(p => names[p] == "<sep>").ToArray();
        // The paper writes '_' between fields; the fitted layout uses the reserved separator token.
        separatorToken = settings.Layout == CharacterEncodingLayout.PaperCompatible ? vocabulary.TokenOf(PaperLayout.Filler) : ReservedTokens.Separator;
        slotNames = names.Select(n => n.AsMemory()).ToArray();
        keyValues = Enumerable.Range(0, vocabulary.Size).Select(t => vocabulary.TokenText(t).AsMemory()).ToArray();
    }

    /// <summary>The fields in sequence order, with their positions.</summary>
    internal IReadOnlyList<EncodedField> Fields { get; }

    /// <summary>Number of token positions in an encoded row (T).</summary>
    internal int SequenceLength { get; }

    /// <summary>Number of token ids, reserved tokens included (V); key count of the output column.</summary>
    internal int VocabularySize => vocabulary.Size;

    internal CharacterEncodingLayout Layout => settings.Layout;

    internal string OutputColumnName => outputColumnName;

    /// <summary>Text of a token id: <c>&lt;pad&gt;</c>, <c>&lt;sep&gt;</c>, <c>&lt;missing&gt;</c>, <c>&lt;unk&gt;</c> or the character.</summary>
    internal string TokenText(int tokenId) => vocabulary.TokenText(tokenId);

    /// <summary>The token id of a character (<see cref="ReservedTokens.Unknown"/> when it was not seen at fit time).</summary>
    internal int TokenOf(char c) => vocabulary.TokenOf(c);

    /// <summary>Shows token ids as one readable string (reserved tokens as '·', '|', '∅', '\uFFFD').</summary>
    internal string ToDisplayString(ReadOnlySpan<int> tokenIds)
    {
        var chars = new char[tokenIds.Length];
        for (int i = 0; i < chars.Length; i++)
            chars[i] = vocabulary.DisplayCharacter(tokenIds[i]);
        return new string(chars);
    }

    /// <summary>
    /// Reads back a number field of an encoded row (for tests and attribution read-outs). In-range values come back
    /// within half a unit of the field's last decimal.
    /// </summary>
    internal DecodedNumber DecodeNumber(int fieldIndex, ReadOnlySpan<int> rowTokenIds)
    {
        var field = Fields[fieldIndex];
        return layouts[fieldIndex] switch
        {
            NumberLayout number => number.Format.Decode(rowTokenIds.Slice(field.Start, field.Width), vocabulary),
            // The decile digit comes first; the number follows it.
            RankedNumberLayout ranked => ranked.Format.Decode(rowTokenIds.Slice(field.Start + 1, field.Width - 1), vocabulary),
            _ => throw new InvalidOperationException($"Field '{field.Name}' is not a fitted number field."),
        };
    }

    /// <summary>The declared precision of a number field: half a unit in its last decimal.</summary>
    internal double NumberPrecision(int fieldIndex) => layouts[fieldIndex] switch
    {
        NumberLayout number => number.Format.Precision,
        RankedNumberLayout ranked => ranked.Format.Precision,
        _ => throw new InvalidOperationException($"Field '{Fields[fieldIndex].Name}' is not a fitted number field."),
    };

    /// <summary>
    /// Binds to a row (of a cursor over data with the fitted input columns) and returns an encoder that writes the
    /// current row's token ids into a span without allocating. One encoder per cursor; not thread-safe.
    /// </summary>
    internal RowEncoder BindRowEncoder(DataViewRow row)
    {
        Host.CheckValue(row, nameof(row));
        CheckInputSchema(row.Schema);
        var readers = new ColumnReader[inputs.Length];
        for (int c = 0; c < inputs.Length; c++)
        {
            var column = row.Schema[inputs[c].Name];
            int n = inputs[c].FieldCount;
            var visitors = new FieldVisitor?[n];
            var starts = new int[n];
            var widths = new int[n];
            foreach (var layout in layouts)
            {
                if (layout.Field.SourceColumn != inputs[c].Name)
                    continue;
                int slot = Math.Max(layout.Field.Slot, 0);
                visitors[slot] = layout.CreateEncoder(vocabulary, settings, column);
                starts[slot] = layout.Field.Start;
                widths[slot] = layout.Field.Width;
            }
            readers[c] = ColumnReader.Create(row, inputs[c], visitors, starts, widths);
        }
        return new RowEncoder(readers, separatorPositions, separatorToken, SequenceLength);
    }

    /// <summary>
    /// The output column's getter over a row: keys (token id + 1) of the current row, written into the caller's
    /// buffer without allocating once it is large enough.
    /// </summary>
    internal ValueGetter<VBuffer<uint>> CreateKeyGetter(DataViewRow row)
    {
        var encoder = BindRowEncoder(row);
        int length = SequenceLength;
        return (ref VBuffer<uint> dst) =>
        {
            var editor = VBufferEditor.Create(ref dst, length);
            // Token ids are written in place, then shifted to keys (id + 1): no scratch buffer per row.
            var ids = MemoryMarshal.Cast<uint, int>(editor.Values);
            encoder.Encode(ids);
            for (int i = 0; i < ids.Length; i++)
                ids[i]++;
            dst = editor.Commit();
        };
    }

    /// <summary>The columns this transformer reads, by name.</summary>
    internal IEnumerable<string> InputColumnNames => inputs.Select(i => i.Name);

    private void CheckInputSchema(DataViewSchema schema)
    {
        foreach (var input in inputs)
        {
            if (!schema.TryGetColumnIndex(input.Name, out int index))
                throw Host.ExceptSchemaMismatch(nameof(schema), "input", input.Name);
            if (!input.Accepts(schema[index].Type))
                throw Host.ExceptSchemaMismatch(nameof(schema), "input", input.Name, DescribeFitted(input), schema[index].Type.ToString());
        }
    }

    private static string DescribeFitted(InputColumn input)
    {
        string item = input.Kind == InputKind.Key ? $"Key<{input.KeyRawKind}>" : input.Kind.ToString();
        return input.IsVector ? $"Vector<{item}, {input.VectorSize}>" : item;
    }

    /// <summary>Encodes the current row of the cursor it was bound to.</summary>
    internal sealed class RowEncoder
    {
        private readonly ColumnReader[] readers;
        private readonly int[] separatorPositions;
        private readonly int separatorToken;

        internal RowEncoder(ColumnReader[] readers, int[] separatorPositions, int separatorToken, int sequenceLength)
        {
            this.readers = readers;
            this.separatorPositions = separatorPositions;
            this.separatorToken = separatorToken;
            SequenceLength = sequenceLength;
        }

        public int SequenceLength { get; }

        /// <summary>Writes the current row's token ids into <paramref name="tokenIds"/> (length = sequence length).</summary>
        public void Encode(Span<int> tokenIds)
        {
            if (tokenIds.Length != SequenceLength)
                throw new ArgumentException($"The span holds {tokenIds.Length} tokens; an encoded row has {SequenceLength}.", nameof(tokenIds));
            foreach (int p in separatorPositions)
                tokenIds[p] = separatorToken;
            foreach (var reader in readers)
                reader.Read(tokenIds);
        }
    }

    private static VersionInfo GetVersionInfo() => new(
        modelSignature: "MXCHRENC",
        verWrittenCur: 0x00010002, // category tokens (CategoryLayout)
        verReadableCur: 0x00010002,
        verWeCanReadBack: 0x00010001,
        loaderSignature: LoaderSignature,
        loaderAssemblyName: typeof(CharacterEncodingTransformer).Assembly.FullName);

    /// <summary>Writes the fitted state into the model zip.</summary>
    public override void SaveModel(ModelSaveContext ctx)
    {
        Host.CheckValue(ctx, nameof(ctx));
        ctx.CheckAtModel();
        ctx.SetVersionInfo(GetVersionInfo());
        var w = ctx.Writer;
        w.Write(outputColumnName);
        w.Write(textColumnName ?? "");
        w.Write((byte)settings.Layout);
        w.Write(settings.InsertSeparators);
        w.Write(settings.DistinguishNaN);
        w.Write(settings.PaperFieldWidth);
        w.Write(settings.MissingTextValues.Length);
        foreach (var s in settings.MissingTextValues)
            WriteChars(w, s);
        // Characters one by one as UTF-16 units: a lone surrogate must survive (UTF-8 string writing would replace it).
        WriteChars(w, vocabulary.Characters);
        w.Write(inputs.Length);
        foreach (var input in inputs)
        {
            w.Write(input.Name);
            w.Write((byte)input.Kind);
            w.Write((byte)input.KeyRawKind);
            w.Write(input.VectorSize);
        }
        w.Write(layouts.Length);
        foreach (var layout in layouts)
        {
            var f = layout.Field;
            w.Write(layout.LayoutTag);
            w.Write(f.Name);
            w.Write(f.SourceColumn);
            w.Write(f.Slot);
            w.Write(f.Start);
            w.Write(f.Width);
            w.Write((byte)f.Kind);
            layout.SaveParameters(w);
        }
        w.Write(SequenceLength);
    }

    /// <summary>A string as its length then its UTF-16 units one by one: a lone surrogate survives (UTF-8 string writing would replace it).</summary>
    internal static void WriteChars(BinaryWriter w, string s)
    {
        w.Write(s.Length);
        foreach (char c in s)
            w.Write((ushort)c);
    }

    internal static string ReadChars(BinaryReader r)
    {
        int n = r.ReadInt32();
        if (n < 0)
            throw new FormatException($"The saved character encoding holds a string of length {n}.");
        var chars = new char[n];
        for (int i = 0; i < n; i++)
            chars[i] = (char)r.ReadUInt16();
        return new string(chars);
    }

    private static CharacterEncodingTransformer Create(IHostEnvironment env, ModelLoadContext ctx)
    {
        Contracts.CheckValue(env, nameof(env));
        return Persistence.ModelFormat.Read(ctx, GetVersionInfo(), "character encoder", () => Read(env, ctx));
    }

    private static CharacterEncodingTransformer Read(IHostEnvironment env, ModelLoadContext ctx)
    {
        var r = ctx.Reader;
        string output = r.ReadString();
        string text = r.ReadString();
        var layout = (CharacterEncodingLayout)r.ReadByte();
        bool separators = r.ReadBoolean();
        bool distinguishNaN = r.ReadBoolean();
        int paperWidth = r.ReadInt32();
        var missing = new string[r.ReadInt32()];
        for (int i = 0; i < missing.Length; i++)
            missing[i] = ReadChars(r);
        string characters = ReadChars(r);
        var inputs = new InputColumn[r.ReadInt32()];
        for (int i = 0; i < inputs.Length; i++)
            inputs[i] = new InputColumn(r.ReadString(), (InputKind)r.ReadByte(), (InputKind)r.ReadByte(), r.ReadInt32());
        var layouts = new FieldLayout[r.ReadInt32()];
        for (int i = 0; i < layouts.Length; i++)
        {
            byte tag = r.ReadByte();
            var field = new EncodedField(r.ReadString(), r.ReadString(), r.ReadInt32(), r.ReadInt32(), r.ReadInt32(), (EncodedFieldKind)r.ReadByte());
            layouts[i] = FieldLayout.Load(r, field, tag);
        }
        int sequenceLength = r.ReadInt32();
        var vocabulary = CharacterVocabulary.For(characters, layouts);
        var settings = new EncodingSettings(layout, separators, distinguishNaN, missing, paperWidth);
        var transformer = new CharacterEncodingTransformer(env, inputs, layouts, vocabulary, settings, output, text.Length == 0 ? null : text);
        if (transformer.SequenceLength != sequenceLength)
            throw Contracts.ExceptDecode($"The saved character encoding has sequence length {sequenceLength} but its fields span {transformer.SequenceLength}.");
        return transformer;
    }

    private static IRowMapper Create(IHostEnvironment env, ModelLoadContext ctx, DataViewSchema inputSchema)
        => Create(env, ctx).MakeRowMapper(inputSchema);

    /// <summary>Binds the transformer to an input schema (checked against the fitted column types).</summary>
    public override IRowMapper MakeRowMapper(DataViewSchema schema)
    {
        CheckInputSchema(schema);
        return new Mapper(this, schema);
    }

    private sealed class Mapper : MapperBase
    {
        private readonly CharacterEncodingTransformer parent;
        private readonly int[] inputIndices;

        public Mapper(CharacterEncodingTransformer parent, DataViewSchema schema) : base(parent.Host, schema, parent)
        {
            this.parent = parent;
            inputIndices = parent.inputs.Select(i => schema[i.Name].Index).ToArray();
        }

        public override DataViewSchema.DetachedColumn[] GetOutputColumnsCore()
        {
            var annotations = new DataViewSchema.Annotations.Builder();
            annotations.AddSlotNames(parent.SequenceLength, (ref VBuffer<ReadOnlyMemory<char>> dst) => Copy(parent.slotNames, ref dst));
            annotations.AddKeyValues(parent.VocabularySize, TextDataViewType.Instance, (ref VBuffer<ReadOnlyMemory<char>> dst) => Copy(parent.keyValues, ref dst));
            var type = new VectorDataViewType(new KeyDataViewType(typeof(uint), parent.VocabularySize), parent.SequenceLength);
            var tokens = new DataViewSchema.DetachedColumn(parent.outputColumnName, type, annotations.ToAnnotations());
            return parent.textColumnName is null
                ? [tokens]
                : [tokens, new DataViewSchema.DetachedColumn(parent.textColumnName, TextDataViewType.Instance)];
        }

        private static void Copy(ReadOnlyMemory<char>[] source, ref VBuffer<ReadOnlyMemory<char>> dst)
        {
            var editor = VBufferEditor.Create(ref dst, source.Length);
            source.CopyTo(editor.Values);
            dst = editor.Commit();
        }

        public override Func<int, bool> GetDependenciesCore(Func<int, bool> activeOutput)
        {
            bool any = Enumerable.Range(0, parent.textColumnName is null ? 1 : 2).Any(activeOutput);
            return col => any && inputIndices.Contains(col);
        }

        public override Delegate MakeGetter(DataViewRow input, int iinfo, Func<int, bool> activeOutput, out Action disposer)
        {
            disposer = null!;
            if (iinfo == 0)
                return parent.CreateKeyGetter(input);
            var encoder = parent.BindRowEncoder(input);
            var scratch = new int[parent.SequenceLength];
            ValueGetter<ReadOnlyMemory<char>> text = (ref ReadOnlyMemory<char> dst) =>
            {
                encoder.Encode(scratch);
                dst = parent.ToDisplayString(scratch).AsMemory();
            };
            return text;
        }

        public override void SaveModel(ModelSaveContext ctx) => parent.SaveModel(ctx);
    }
}
