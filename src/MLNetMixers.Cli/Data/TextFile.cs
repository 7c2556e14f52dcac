using System.Text;

namespace MLNetMixers.Cli.Data;

/// <summary>A text file's content as decoded, and how: UTF-8 (with or without BOM), UTF-16, or Latin-1 when the bytes are not UTF-8.</summary>
internal sealed record DecodedText(string Text, string EncodingName, string? Warning);

/// <summary>
/// Reads a user's text file: refuses binary files (NUL bytes) with a sentence, and decodes bytes that are not
/// valid UTF-8 as Latin-1 with a warning saying where the first invalid byte is, instead of replacing characters.
/// </summary>
internal static class TextFile
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static DecodedText Read(string path, string what = "file")
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"Cannot read {what} '{path}': {(e is UnauthorizedAccessException ? "permission denied" : e.Message)}.", e);
        }
        return Decode(bytes, path, what);
    }

    public static DecodedText Decode(byte[] bytes, string path, string what = "file")
    {
        if (bytes.Length >= 2 && ((bytes[0] == 0xFF && bytes[1] == 0xFE) || (bytes[0] == 0xFE && bytes[1] == 0xFF)))
        {
            var utf16 = bytes[0] == 0xFF ? System.Text.Encoding.Unicode : System.Text.Encoding.BigEndianUnicode;
            return new DecodedText(utf16.GetString(bytes, 2, bytes.Length - 2), "UTF-16", null);
        }
        int start = bytes.Length >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF ? 3 : 0;
        int nul = Array.IndexOf(bytes, (byte)0, start);
        if (nul >= 0)
        {
            throw new CliException($"{Capitalized(what)} '{path}' is binary, not text: it holds a NUL byte at offset {nul} (line {LineOf(bytes, nul)}). " +
                                   "Give a UTF-8 text file.");
        }
        try
        {
            return new DecodedText(StrictUtf8.GetString(bytes, start, bytes.Length - start), "UTF-8", null);
        }
        catch (DecoderFallbackException)
        {
            int bad = FirstInvalidUtf8(bytes, start);
            // Latin-1 maps every byte to one character, so each value is kept (not replaced by U+FFFD) and is echoed as read.
            return new DecodedText(System.Text.Encoding.Latin1.GetString(bytes, start, bytes.Length - start), "Latin-1",
                $"{Capitalized(what)} '{path}' is not valid UTF-8 (byte 0x{bytes[bad]:X2} at line {LineOf(bytes, bad)}); it is read as Latin-1 (ISO-8859-1). " +
                "Save it as UTF-8 if that is wrong.");
        }
    }

    private static string Capitalized(string what) => what.Length == 0 ? what : char.ToUpperInvariant(what[0]) + what[1..];

    private static long LineOf(byte[] bytes, int offset)
    {
        long line = 1;
        for (int i = 0; i < offset; i++)
        {
            if (bytes[i] == (byte)'\n')
                line++;
        }
        return line;
    }

    private static int FirstInvalidUtf8(byte[] bytes, int start)
    {
        int i = start;
        while (i < bytes.Length)
        {
            byte b = bytes[i];
            int length = b < 0x80 ? 1 : (b & 0xE0) == 0xC0 && b >= 0xC2 ? 2 : (b & 0xF0) == 0xE0 ? 3 : (b & 0xF8) == 0xF0 && b <= 0xF4 ? 4 : 0;
            if (length == 0 || i + length > bytes.Length)
                return i;
            if (length > 1 && !StrictValid(bytes.AsSpan(i, length)))
                return i;
            i += length;
        }
        return Math.Min(start, bytes.Length - 1);
    }

    private static bool StrictValid(ReadOnlySpan<byte> sequence)
    {
        try
        {
            StrictUtf8.GetCharCount(sequence);
            return true;
        }
        catch (DecoderFallbackException)
        {
            return false;
        }
    }
}
