using System.Buffers;
using System.Text;
using MLNetMixers.Text;

namespace MLNetMixers.Compression;

/// <summary>
/// Turns any byte sequence into the symbols the compressor codes, and back: model tokens, or an escape followed by
/// one raw byte for what the tokenizer cannot reproduce exactly (invalid UTF-8, characters outside a character
/// vocabulary, text a tokenizer normalises). A byte tokenizer codes every byte as its own token.
/// </summary>
internal static class ByteTokenization
{
    /// <summary>One coded symbol: a token id, or (<see cref="Token"/> = −1) an escaped raw byte.</summary>
    internal readonly record struct Symbol(int Token, byte Byte)
    {
        public bool IsEscape => Token < 0;

        public static Symbol Raw(byte b) => new(-1, b);
    }

    public static Symbol[] Split(ReadOnlySpan<byte> data, TextTokenizer tokenizer)
    {
        if (tokenizer is ByteTokenizer)
        {
            var bytes = new Symbol[data.Length];
            for (int i = 0; i < data.Length; i++)
                bytes[i] = new Symbol(data[i], 0);
            return bytes;
        }

        var symbols = new List<Symbol>(data.Length);
        int position = 0;
        while (position < data.Length)
        {
            int valid = ValidUtf8Prefix(data[position..]);
            if (valid == 0)
            {
                symbols.Add(Symbol.Raw(data[position++]));
                continue;
            }
            AddText(symbols, data.Slice(position, valid), tokenizer);
            position += valid;
        }
        var result = symbols.ToArray();
        // The decoder's reconstruction is the only thing that counts: should a tokenizer's decoding not concatenate,
        // fall back to raw bytes rather than risk a wrong round trip.
        return Join(result, tokenizer).AsSpan().SequenceEqual(data) ? result : EscapeAll(data);
    }

    /// <summary>The bytes the symbols stand for: runs of tokens decoded together, escaped bytes as they are.</summary>
    public static byte[] Join(IReadOnlyList<Symbol> symbols, TextTokenizer tokenizer)
    {
        var output = new ArrayBufferWriter<byte>(Math.Max(1, symbols.Count));
        if (tokenizer is ByteTokenizer)
        {
            var span = output.GetSpan(symbols.Count);
            for (int i = 0; i < symbols.Count; i++)
                span[i] = symbols[i].IsEscape ? symbols[i].Byte : (byte)symbols[i].Token;
            output.Advance(symbols.Count);
            return output.WrittenSpan.ToArray();
        }
        var run = new List<int>();
        foreach (var symbol in symbols)
        {
            if (symbol.IsEscape)
            {
                Flush();
                output.Write([symbol.Byte]);
            }
            else
                run.Add(symbol.Token);
        }
        Flush();
        return output.WrittenSpan.ToArray();

        void Flush()
        {
            if (run.Count == 0)
                return;
            output.Write(System.Text.Encoding.UTF8.GetBytes(tokenizer.Decode(run)));
            run.Clear();
        }
    }

    /// <summary>The token a model reads in place of an escaped byte: the unknown character, else end of text.</summary>
    public static int StandIn(TextTokenizer tokenizer) => tokenizer is CharacterTokenizer ? CharacterTokenizer.Unknown : tokenizer.EndOfText;

    private static void AddText(List<Symbol> symbols, ReadOnlySpan<byte> utf8, TextTokenizer tokenizer)
    {
        string text = System.Text.Encoding.UTF8.GetString(utf8);
        if (TryTokens(text, tokenizer, out var ids))
        {
            foreach (int id in ids)
                symbols.Add(new Symbol(id, 0));
            return;
        }
        // Character by character: only what the tokenizer cannot reproduce is escaped.
        Span<byte> buffer = stackalloc byte[4];
        foreach (var rune in text.EnumerateRunes())
        {
            if (TryTokens(rune.ToString(), tokenizer, out var runeIds))
            {
                foreach (int id in runeIds)
                    symbols.Add(new Symbol(id, 0));
                continue;
            }
            int n = rune.EncodeToUtf8(buffer);
            for (int i = 0; i < n; i++)
                symbols.Add(Symbol.Raw(buffer[i]));
        }
    }

    private static bool TryTokens(string text, TextTokenizer tokenizer, out int[] ids)
    {
        try
        {
            ids = tokenizer.Encode(text);
        }
        catch (ArgumentException)
        {
            ids = [];
            return false;
        }
        return ids.All(id => id >= 0 && id < tokenizer.VocabularySize && id != tokenizer.EndOfText)
               && !(tokenizer is CharacterTokenizer && ids.Contains(CharacterTokenizer.Unknown))
               && tokenizer.Decode(ids) == text;
    }

    private static Symbol[] EscapeAll(ReadOnlySpan<byte> data)
    {
        var raw = new Symbol[data.Length];
        for (int i = 0; i < data.Length; i++)
            raw[i] = Symbol.Raw(data[i]);
        return raw;
    }

    /// <summary>Length of the longest prefix of <paramref name="data"/> that is valid UTF-8.</summary>
    private static int ValidUtf8Prefix(ReadOnlySpan<byte> data)
    {
        int position = 0;
        while (position < data.Length)
        {
            if (Rune.DecodeFromUtf8(data[position..], out _, out int consumed) != OperationStatus.Done)
                break;
            position += consumed;
        }
        return position;
    }
}
