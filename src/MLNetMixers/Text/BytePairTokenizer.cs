using System.Text;
using System.Text.RegularExpressions;

namespace MLNetMixers.Text;

/// <summary>
/// Byte-level byte-pair encoding learned from the training text (Sennrich et al. 2016; byte-level as in GPT-2):
/// ids 0..255 are bytes, 256.. the learned merges in the order they were learned, then end of text. Text is first
/// cut into words (letters, digits, other symbols and white space, a leading space kept with the word), so merges
/// never cross a word boundary. Bytes are WTF-8 (UTF-8 that also writes lone UTF-16 surrogates as 3-byte sequences),
/// so every .NET string, malformed ones included, round-trips exactly.
/// </summary>
internal sealed class BytePairTokenizer : TextTokenizer
{
    private const int ByteCount = 256;
    private const int WordCacheLimit = 1 << 18;

    // GPT-2's pre-tokenizer: contractions, letters, digits, other symbols, each with an optional leading space; white space.
    private static readonly Regex Words = new(@"'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+", RegexOptions.Compiled | RegexOptions.CultureInvariant);

    private readonly (int Left, int Right)[] merges;
    private readonly Dictionary<long, int> rank;       // pair -> merge index
    private readonly byte[][] tokenBytes;
    private readonly Dictionary<string, int[]> wordCache = new(StringComparer.Ordinal);
    private readonly object cacheLock = new();

    public BytePairTokenizer(IReadOnlyList<(int Left, int Right)> merges)
    {
        this.merges = merges.ToArray();
        rank = new Dictionary<long, int>(this.merges.Length);
        tokenBytes = new byte[ByteCount + this.merges.Length][];
        for (int b = 0; b < ByteCount; b++)
            tokenBytes[b] = [(byte)b];
        for (int m = 0; m < this.merges.Length; m++)
        {
            var (left, right) = this.merges[m];
            int id = ByteCount + m;
            if (left < 0 || right < 0 || left >= id || right >= id || !rank.TryAdd(Key(left, right), m))
                throw new FormatException($"Byte-pair merge {m} ({left}, {right}) is not a new pair of earlier tokens.");
            tokenBytes[id] = [.. tokenBytes[left], .. tokenBytes[right]];
        }
    }

    public IReadOnlyList<(int Left, int Right)> Merges => merges;

    public override int VocabularySize => ByteCount + merges.Length + 1;

    public override int EndOfText => ByteCount + merges.Length;

    public override TextTokenization Kind => TextTokenization.Subwords;

    /// <summary>Learns merges until the vocabulary (bytes + merges + end of text) reaches <paramref name="vocabularySize"/> or no pair occurs twice.</summary>
    public static BytePairTokenizer Learn(IEnumerable<string> corpus, int vocabularySize)
    {
        if (vocabularySize < ByteCount + 1)
            throw new ArgumentOutOfRangeException(nameof(vocabularySize), vocabularySize, $"A byte-pair vocabulary needs at least {ByteCount + 1} tokens (the bytes and end of text).");
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var document in corpus)
            foreach (var word in SplitWords(document))
                counts[word] = counts.GetValueOrDefault(word) + 1;
        var learner = new Learner(counts.Select(kv => (ToWtf8(kv.Key).Select(b => (int)b).ToList(), kv.Value)));
        return new BytePairTokenizer(learner.Learn(vocabularySize - ByteCount - 1));
    }

    public override int[] Encode(string text)
    {
        var ids = new List<int>(text.Length / 3 + 1);
        foreach (var word in SplitWords(text))
            ids.AddRange(EncodeWord(word));
        return ids.ToArray();
    }

    public override string Decode(IReadOnlyList<int> tokenIds)
    {
        var bytes = new List<byte>(tokenIds.Count * 4);
        foreach (int id in tokenIds)
        {
            if (id >= 0 && id < tokenBytes.Length)
                bytes.AddRange(tokenBytes[id]);
        }
        return FromWtf8(bytes);
    }

    protected override void SaveCore(BinaryWriter writer)
    {
        writer.Write(merges.Length);
        foreach (var (left, right) in merges)
        {
            writer.Write(left);
            writer.Write(right);
        }
    }

    internal static BytePairTokenizer LoadCore(BinaryReader reader)
    {
        int count = reader.ReadInt32();
        if (count < 0 || count > 1 << 24)
            throw new FormatException($"The model file's byte-pair tokenizer claims {count} merges.");
        var merges = new (int, int)[count];
        for (int i = 0; i < count; i++)
            merges[i] = (reader.ReadInt32(), reader.ReadInt32());
        return new BytePairTokenizer(merges);
    }

    /// <summary>The words of <paramref name="text"/>, in order; they concatenate to the text.</summary>
    internal static IEnumerable<string> SplitWords(string text)
    {
        int end = 0;
        for (var match = Words.Match(text); match.Success; match = match.NextMatch())
        {
            if (match.Index > end)   // nothing should fall between matches; never drop it if something does
                yield return text[end..match.Index];
            yield return match.Value;
            end = match.Index + match.Length;
        }
        if (end < text.Length)
            yield return text[end..];
    }

    private int[] EncodeWord(string word)
    {
        lock (cacheLock)
        {
            if (wordCache.TryGetValue(word, out var cached))
                return cached;
        }
        var symbols = ToWtf8(word).Select(b => (int)b).ToList();
        while (symbols.Count > 1)
        {
            int best = -1, bestRank = int.MaxValue;
            for (int i = 0; i + 1 < symbols.Count; i++)
            {
                if (rank.TryGetValue(Key(symbols[i], symbols[i + 1]), out int r) && r < bestRank)
                {
                    bestRank = r;
                    best = i;
                }
            }
            if (best < 0)
                break;
            var (left, right) = merges[bestRank];
            for (int i = 0; i + 1 < symbols.Count; i++)
            {
                if (symbols[i] == left && symbols[i + 1] == right)
                {
                    symbols[i] = ByteCount + bestRank;
                    symbols.RemoveAt(i + 1);
                }
            }
        }
        var ids = symbols.ToArray();
        lock (cacheLock)
        {
            if (wordCache.Count < WordCacheLimit)
                wordCache[word] = ids;
        }
        return ids;
    }

    private static long Key(int left, int right) => ((long)left << 32) | (uint)right;

    /// <summary>UTF-8, except that a lone surrogate is written as the 3-byte form of its code unit (WTF-8).</summary>
    internal static byte[] ToWtf8(string text)
    {
        var bytes = new List<byte>(text.Length);
        for (int i = 0; i < text.Length; i++)
        {
            int c = text[i];
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                c = char.ConvertToUtf32(text[i], text[i + 1]);
                i++;
            }
            if (c < 0x80)
                bytes.Add((byte)c);
            else if (c < 0x800)
                bytes.AddRange([(byte)(0xC0 | c >> 6), (byte)(0x80 | c & 0x3F)]);
            else if (c < 0x10000)
                bytes.AddRange([(byte)(0xE0 | c >> 12), (byte)(0x80 | c >> 6 & 0x3F), (byte)(0x80 | c & 0x3F)]);
            else
                bytes.AddRange([(byte)(0xF0 | c >> 18), (byte)(0x80 | c >> 12 & 0x3F), (byte)(0x80 | c >> 6 & 0x3F), (byte)(0x80 | c & 0x3F)]);
        }
        return bytes.ToArray();
    }

    /// <summary>Inverse of <see cref="ToWtf8"/>; a byte that starts no well-formed sequence decodes to U+FFFD.</summary>
    internal static string FromWtf8(IReadOnlyList<byte> bytes)
    {
        var text = new StringBuilder(bytes.Count);
        int i = 0;
        while (i < bytes.Count)
        {
            int b = bytes[i];
            int length = b < 0x80 ? 1 : b is >= 0xC2 and < 0xE0 ? 2 : b is >= 0xE0 and < 0xF0 ? 3 : b is >= 0xF0 and < 0xF5 ? 4 : 0;
            int c = length switch { 1 => b, 2 => b & 0x1F, 3 => b & 0x0F, 4 => b & 0x07, _ => -1 };
            bool ok = length > 0 && i + length <= bytes.Count;
            for (int k = 1; ok && k < length; k++)
            {
                ok = (bytes[i + k] & 0xC0) == 0x80;
                c = c << 6 | bytes[i + k] & 0x3F;
            }
            // Reject overlong forms and code points past U+10FFFF (surrogates stay: that is what WTF-8 adds).
            ok = ok && (length != 3 || c >= 0x800) && (length != 4 || c is >= 0x10000 and <= 0x10FFFF);
            if (!ok)
            {
                text.Append('\uFFFD');
                i++;
                continue;
            }
            if (c >= 0x10000)
                text.Append(char.ConvertFromUtf32(c));
            else
                text.Append((char)c);
            i += length;
        }
        return text.ToString();
    }

    /// <summary>
    /// The classic learner over distinct words: pair counts weighted by word frequency, an index from each pair to the
    /// words holding it, and a max-heap of counts with stale entries skipped, so a merge touches only its own words.
    /// Ties go to the smaller (left, right) ids, which makes the merges deterministic.
    /// </summary>
    private sealed class Learner
    {
        private readonly List<List<int>> words = [];
        private readonly List<long> frequencies = [];
        private readonly Dictionary<long, long> pairCounts = [];
        private readonly Dictionary<long, HashSet<int>> pairWords = [];
        private readonly PriorityQueue<long, (long NegativeCount, long Key)> heap = new();

        public Learner(IEnumerable<(List<int> Symbols, long Frequency)> distinctWords)
        {
            foreach (var (symbols, frequency) in distinctWords)
            {
                words.Add(symbols);
                frequencies.Add(frequency);
            }
            for (int w = 0; w < words.Count; w++)
                Count(w, +1);
            foreach (var (key, count) in pairCounts)
                heap.Enqueue(key, (-count, key));
            counted = true;
        }

        public List<(int, int)> Learn(int mergeCount)
        {
            var merges = new List<(int, int)>(mergeCount);
            while (merges.Count < mergeCount && heap.TryDequeue(out long key, out var priority))
            {
                long count = pairCounts.GetValueOrDefault(key);
                if (count != -priority.NegativeCount)
                    continue;   // stale: the count changed after this entry was queued
                if (count < 2)
                    break;
                int left = (int)(key >> 32), right = (int)key;
                int id = ByteCount + merges.Count;
                merges.Add((left, right));
                foreach (int w in pairWords[key].ToArray())
                {
                    Count(w, -1);
                    Merge(words[w], left, right, id);
                    Count(w, +1);
                }
            }
            return merges;
        }

        private static void Merge(List<int> symbols, int left, int right, int id)
        {
            int write = 0;
            for (int read = 0; read < symbols.Count; read++)
            {
                if (read + 1 < symbols.Count && symbols[read] == left && symbols[read + 1] == right)
                {
                    symbols[write++] = id;
                    read++;
                }
                else
                {
                    symbols[write++] = symbols[read];
                }
            }
            symbols.RemoveRange(write, symbols.Count - write);
        }

        /// <summary>Adds (sign +1) or removes (-1) word <paramref name="w"/>'s pairs from the counts, queueing the changed counts.</summary>
        private void Count(int w, int sign)
        {
            var symbols = words[w];
            long frequency = frequencies[w] * sign;
            for (int i = 0; i + 1 < symbols.Count; i++)
            {
                long key = Key(symbols[i], symbols[i + 1]);
                long count = pairCounts.GetValueOrDefault(key) + frequency;
                pairCounts[key] = count;
                if (sign > 0)
                {
                    if (!pairWords.TryGetValue(key, out var set))
                        pairWords[key] = set = [];
                    set.Add(w);
                }
                else if (count == 0)
                {
                    pairWords.Remove(key);
                    pairCounts.Remove(key);
                }
                if (counted && count > 0)
                    heap.Enqueue(key, (-count, key));
            }
            // A removal can leave a word in a pair's set after its last occurrence went; Learn tolerates that (Merge is a no-op there).
        }

        private bool counted;   // false while the constructor counts: everything is queued once afterwards
    }
}
