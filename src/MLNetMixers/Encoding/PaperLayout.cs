using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetMixers.Encoding;

/// <summary>
/// The tabular paper's field format (blbadger/small-language-models, <c>data_formatter.py</c>): Python's
/// <c>str()</c> of the value pandas would have read, cut to the first n characters, left-padded with <c>'_'</c>;
/// missing is <c>'_'</c> n times. Padding, separators and missing values are all the character <c>'_'</c>.
/// </summary>
/// <remarks>
/// pandas prints a float64 column's values as <c>repr(float)</c> (<c>181.0</c>, <c>39.1</c>, <c>1e-05</c>) but an
/// all-integer column without missing values as int64 (<c>181</c>). A floating-point column whose fitted values
/// were all whole with none missing is therefore written like an integer column, as pandas would have read it.
/// What pandas reads as missing (NaN, its default NA strings) and the paper's <c>""</c> and <c>"(null)"</c> are
/// missing. The paper's rule that blanked every value starting with "n" is not copied (see
/// <see cref="CharacterEncodingLayout.PaperCompatible"/>).
/// </remarks>
internal sealed class PaperLayout : FieldLayout
{
    public const byte Tag = 5;

    /// <summary>The paper's numeric alphabet, always in the vocabulary of a paper layout.</summary>
    public const string SeedAlphabet = "0123456789. -:_";

    public const char Filler = '_';

    /// <summary>pandas' default <c>na_values</c> plus the paper's <c>"(null)"</c>.</summary>
    public static readonly string[] MissingTexts =
    [
        "", "(null)", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
        "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
    ];

    /// <summary>Longest formatted value: a double's repr or a long's digits fit easily.</summary>
    public const int MaxFormatted = 64;

    public PaperLayout(EncodedField field, InputKind source, bool wholeNumbers) : base(field)
    {
        Source = source;
        WholeNumbers = wholeNumbers;
    }

    /// <summary>The input item kind (for keys, <see cref="InputKind.Key"/>).</summary>
    public InputKind Source { get; }

    /// <summary>A floating-point column printed as pandas prints an int64 column.</summary>
    public bool WholeNumbers { get; }

    public override byte LayoutTag => Tag;

    public override FieldVisitor CreateEncoder(CharacterVocabulary vocabulary, EncodingSettings settings, DataViewSchema.Column column)
        => new Encoder(vocabulary, Field.Width, WholeNumbers, Source == InputKind.Key ? KeyTexts(column) : null);

    public override void SaveParameters(BinaryWriter writer)
    {
        writer.Write((byte)Source);
        writer.Write(WholeNumbers);
    }

    public static PaperLayout LoadParameters(BinaryReader reader, EncodedField field)
        => new(field, (InputKind)reader.ReadByte(), reader.ReadBoolean());

    public override FieldLayout WithField(EncodedField field) => new PaperLayout(field, Source, WholeNumbers);

    public override string Describe() => $"{Field.Name}: paper format ({Field.Width} chars)";

    /// <summary>Formats a value as the paper's code saw it; false when it is missing.</summary>
    public static class Python
    {
        public static bool Double(double value, bool wholeNumbers, Span<char> buffer, out int length)
        {
            length = 0;
            if (double.IsNaN(value))
                return false;
            if (double.IsInfinity(value))
                return Copy(value > 0 ? "inf" : "-inf", buffer, out length);
            bool whole = Math.Floor(value) == value && Math.Abs(value) < 1e16;
            if (whole)
            {
                value.TryFormat(buffer, out length, "F0", CultureInfo.InvariantCulture);
                if (!wholeNumbers)
                {
                    buffer[length++] = '.';
                    buffer[length++] = '0';
                }
                return true;
            }
            value.TryFormat(buffer, out length, "R", CultureInfo.InvariantCulture);
            LowerExponent(buffer[..length]);
            return true;
        }

        public static bool Single(float value, bool wholeNumbers, Span<char> buffer, out int length)
        {
            // pandas parses the file's text as float64; a Single's shortest round-trip text is that text.
            if (float.IsNaN(value) || float.IsInfinity(value) || (MathF.Floor(value) == value && Math.Abs(value) < 1e16f))
                return Double(value, wholeNumbers, buffer, out length);
            value.TryFormat(buffer, out length, "R", CultureInfo.InvariantCulture);
            LowerExponent(buffer[..length]);
            return true;
        }

        public static bool Int64(long value, Span<char> buffer, out int length)
            => value.TryFormat(buffer, out length, default, CultureInfo.InvariantCulture);

        public static bool UInt64(ulong value, Span<char> buffer, out int length)
            => value.TryFormat(buffer, out length, default, CultureInfo.InvariantCulture);

        public static bool Boolean(bool value, Span<char> buffer, out int length) => Copy(value ? "True" : "False", buffer, out length);

        public static bool Text(ReadOnlySpan<char> value, bool isNull, Span<char> buffer, out int length)
        {
            length = 0;
            if (isNull)
                return false;
            foreach (var missing in MissingTexts)
            {
                if (value.SequenceEqual(missing))
                    return false;
            }
            // Only the first characters are ever used; the caller cuts to the field width.
            length = Math.Min(value.Length, buffer.Length);
            value[..length].CopyTo(buffer);
            return true;
        }

        public static bool Date(DateTime value, Span<char> buffer, out int length)
        {
            length = 0;
            if (value.Ticks == 0)
                return false;
            return value.TimeOfDay == TimeSpan.Zero
                ? value.TryFormat(buffer, out length, "yyyy-MM-dd", CultureInfo.InvariantCulture)
                : value.TryFormat(buffer, out length, "yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);
        }

        private static bool Copy(string text, Span<char> buffer, out int length)
        {
            text.AsSpan().CopyTo(buffer);
            length = text.Length;
            return true;
        }

        private static void LowerExponent(Span<char> text)
        {
            for (int i = 0; i < text.Length; i++)
            {
                if (text[i] == 'E')
                    text[i] = 'e';
            }
        }
    }

    /// <summary>Formats each value on the stack, then cuts and pads it as the paper did.</summary>
    internal sealed class Encoder : FieldVisitor
    {
        private readonly CharacterVocabulary? vocabulary;
        private readonly int width;
        private readonly bool wholeNumbers;
        private readonly ReadOnlyMemory<char>[]? keyTexts;
        private readonly int filler;

        /// <param name="vocabulary">Null when fitting: <see cref="Sink"/> then receives the cut text.</param>
        /// <param name="width">Characters per field.</param>
        /// <param name="wholeNumbers">Print a floating-point column as pandas prints int64.</param>
        /// <param name="keyTexts">Key values of a key column, or null.</param>
        public Encoder(CharacterVocabulary? vocabulary, int width, bool wholeNumbers, ReadOnlyMemory<char>[]? keyTexts)
        {
            this.vocabulary = vocabulary;
            this.width = width;
            this.wholeNumbers = wholeNumbers;
            this.keyTexts = keyTexts;
            filler = vocabulary?.TokenOf(Filler) ?? 0;
        }

        /// <summary>Fit time: receives each value's cut text (empty for missing).</summary>
        public Action<ReadOnlyMemory<char>>? Sink { get; init; }

        public override void OnDouble(double value, Span<int> destination)
        {
            Span<char> buffer = stackalloc char[MaxFormatted];
            Emit(Python.Double(value, wholeNumbers, buffer, out int n), buffer[..n], destination);
        }

        public override void OnSingle(float value, Span<int> destination)
        {
            Span<char> buffer = stackalloc char[MaxFormatted];
            Emit(Python.Single(value, wholeNumbers, buffer, out int n), buffer[..n], destination);
        }

        public override void OnInt64(long value, Span<int> destination)
        {
            Span<char> buffer = stackalloc char[MaxFormatted];
            Emit(Python.Int64(value, buffer, out int n), buffer[..n], destination);
        }

        public override void OnUInt64(ulong value, Span<int> destination)
        {
            Span<char> buffer = stackalloc char[MaxFormatted];
            Emit(Python.UInt64(value, buffer, out int n), buffer[..n], destination);
        }

        public override void OnBoolean(bool value, Span<int> destination)
        {
            Span<char> buffer = stackalloc char[MaxFormatted];
            Emit(Python.Boolean(value, buffer, out int n), buffer[..n], destination);
        }

        public override void OnText(ReadOnlyMemory<char> value, Span<int> destination)
        {
            Span<char> buffer = stackalloc char[MaxFormatted];
            Emit(Python.Text(value.Span, value.Equals(default(ReadOnlyMemory<char>)), buffer, out int n), buffer[..n], destination);
        }

        public override void OnDateTime(DateTime value, Span<int> destination)
        {
            Span<char> buffer = stackalloc char[MaxFormatted];
            Emit(Python.Date(value, buffer, out int n), buffer[..n], destination);
        }

        public override void OnDateTimeOffset(DateTimeOffset value, Span<int> destination)
            => OnDateTime(value == default ? default : value.DateTime, destination);

        public override void OnKey(ulong value, Span<int> destination)
        {
            if (keyTexts is null)
            {
                if (value == 0)
                    Emit(false, default, destination);
                else
                    OnUInt64(value - 1, destination);
                return;
            }
            if (value == 0 || value > (ulong)keyTexts.Length)
                Emit(false, default, destination);
            else
                OnText(keyTexts[value - 1], destination);
        }

        private void Emit(bool present, ReadOnlySpan<char> text, Span<int> destination)
        {
            if (!present)
                text = default;
            text = text[..Math.Min(text.Length, width)];
            if (Sink is not null)
            {
                Sink(text.ToString().AsMemory());
                return;
            }
            int pad = width - text.Length;
            destination[..pad].Fill(filler);
            for (int i = 0; i < text.Length; i++)
                destination[pad + i] = vocabulary!.TokenOf(text[i]);
        }
    }
}
