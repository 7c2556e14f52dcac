using System.Text;
using MLTokenizer = Microsoft.ML.Tokenizers.Tokenizer;

namespace MLNetMixers.Text;

/// <summary>
/// Turns text into token ids and back for the language model. Every tokenizer reserves one id for the
/// end-of-text separator placed between documents (and before every prompt).
/// </summary>
internal abstract class TextTokenizer
{
    /// <summary>Number of token ids the model's embedding and head cover, end-of-text included.</summary>
    public abstract int VocabularySize { get; }

    /// <summary>The end-of-text id: separates packed documents, starts every prompt, stops generation.</summary>
    public abstract int EndOfText { get; }

    /// <summary>Persisted kind tag.</summary>
    public abstract TextTokenization Kind { get; }

    public abstract int[] Encode(string text);

    /// <summary>Text of the ids; end-of-text ids decode to nothing.</summary>
    public abstract string Decode(IReadOnlyList<int> ids);

    /// <summary>Writes what is needed to rebuild this tokenizer.</summary>
    protected abstract void SaveCore(BinaryWriter writer);

    public void Save(BinaryWriter writer)
    {
        writer.Write((byte)Kind);
        SaveCore(writer);
    }

    /// <summary>
    /// Reads a tokenizer written by <see cref="Save"/>. A Microsoft.ML.Tokenizers adapter comes back detached
    /// (<see cref="DetachedTokenizer"/>) until the caller supplies the tokenizer again.
    /// </summary>
    public static TextTokenizer Load(BinaryReader reader)
    {
        var kind = (TextTokenization)reader.ReadByte();
        return kind switch
        {
            TextTokenization.Characters => CharacterTokenizer.LoadCore(reader),
            TextTokenization.Bytes => new ByteTokenizer(),
            TextTokenization.Tokenizer => DetachedTokenizer.LoadCore(reader),
            TextTokenization.Subwords => BytePairTokenizer.LoadCore(reader),
            _ => throw new FormatException($"Unknown tokenizer kind {(byte)kind} in the model file."),
        };
    }

    /// <summary>Builds the tokenizer the options ask for, learning a character vocabulary from <paramref name="corpus"/> when needed.</summary>
    public static TextTokenizer Create(TextTokenization kind, MLTokenizer? tokenizer, IEnumerable<string> corpus, int subwordVocabularySize = 2048) => kind switch
    {
        TextTokenization.Characters => CharacterTokenizer.Learn(corpus),
        TextTokenization.Subwords => BytePairTokenizer.Learn(corpus, subwordVocabularySize),
        TextTokenization.Bytes => new ByteTokenizer(),
        TextTokenization.Tokenizer => new MLTokenizerAdapter(tokenizer ?? throw new ArgumentException(
            $"{nameof(MixerLanguageModelOptions.Tokenization)} is {nameof(TextTokenization.Tokenizer)} but {nameof(MixerLanguageModelOptions.Tokenizer)} is null.")),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown tokenization."),
    };
}

/// <summary>
/// One id per character (UTF-16 unit) seen in the training corpus, in ordinal order, after two reserved ids:
/// 0 = end of text, 1 = unknown (any character not seen at fit time; it decodes to U+FFFD).
/// </summary>
internal sealed class CharacterTokenizer : TextTokenizer
{
    public const int Unknown = 1;
    private const int Reserved = 2;
    private readonly string characters;
    private readonly Dictionary<char, int> ids;

    public CharacterTokenizer(string characters)
    {
        this.characters = characters;
        ids = new Dictionary<char, int>(characters.Length);
        for (int i = 0; i < characters.Length; i++)
            ids.Add(characters[i], i + Reserved);
    }

    public static CharacterTokenizer Learn(IEnumerable<string> corpus)
    {
        var seen = new HashSet<char>();
        foreach (var document in corpus)
            foreach (char c in document)
                seen.Add(c);
        var ordered = seen.ToArray();
        Array.Sort(ordered);
        return new CharacterTokenizer(new string(ordered));
    }

    public override int VocabularySize => characters.Length + Reserved;

    public override int EndOfText => 0;

    public override TextTokenization Kind => TextTokenization.Characters;

    /// <summary>The learned characters (without the reserved ids).</summary>
    public string Characters => characters;

    public override int[] Encode(string text)
    {
        var result = new int[text.Length];
        for (int i = 0; i < text.Length; i++)
            result[i] = ids.TryGetValue(text[i], out int id) ? id : Unknown;
        return result;
    }

    public override string Decode(IReadOnlyList<int> tokenIds)
    {
        var text = new StringBuilder(tokenIds.Count);
        foreach (int id in tokenIds)
        {
            if (id == Unknown)
                text.Append('\uFFFD');
            else if (id >= Reserved && id < VocabularySize)
                text.Append(characters[id - Reserved]);
        }
        return text.ToString();
    }

    protected override void SaveCore(BinaryWriter writer)
    {
        // UTF-16 units one by one: a lone surrogate must survive (string writing would replace it).
        writer.Write(characters.Length);
        foreach (char c in characters)
            writer.Write((ushort)c);
    }

    internal static CharacterTokenizer LoadCore(BinaryReader reader)
    {
        var chars = new char[reader.ReadInt32()];
        for (int i = 0; i < chars.Length; i++)
            chars[i] = (char)reader.ReadUInt16();
        return new CharacterTokenizer(new string(chars));
    }
}

/// <summary>UTF-8 bytes as ids 0..255, end of text = 256. Nothing is unknown; invalid UTF-8 decodes to U+FFFD.</summary>
internal sealed class ByteTokenizer : TextTokenizer
{
    public override int VocabularySize => 257;

    public override int EndOfText => 256;

    public override TextTokenization Kind => TextTokenization.Bytes;

    public override int[] Encode(string text) => System.Text.Encoding.UTF8.GetBytes(text).Select(b => (int)b).ToArray();

    public override string Decode(IReadOnlyList<int> tokenIds)
    {
        var bytes = new byte[tokenIds.Count];
        int n = 0;
        foreach (int id in tokenIds)
        {
            if (id is >= 0 and < 256)
                bytes[n++] = (byte)id;
        }
        return System.Text.Encoding.UTF8.GetString(bytes, 0, n);
    }

    protected override void SaveCore(BinaryWriter writer)
    {
    }
}

/// <summary>
/// Any Microsoft.ML.Tokenizers tokenizer. Its ids are used as they are (0..IdRange-1, the range read from the
/// tokenizer's vocabulary) and IdRange is the end-of-text id. Only the id range, the tokenizer's type name and a
/// fingerprint are saved (the tokenizer's own files are not ours to copy); after loading, the same tokenizer must
/// be supplied again.
/// </summary>
internal sealed class MLTokenizerAdapter : TextTokenizer
{
    private readonly MLTokenizer tokenizer;
    private readonly int vocabularySize;

    public MLTokenizerAdapter(MLTokenizer tokenizer, int? idRange = null)
    {
        this.tokenizer = tokenizer;
        vocabularySize = idRange ?? MeasureIdRange(tokenizer);
        Fingerprint = ComputeFingerprint(tokenizer);
    }

    public MLTokenizer Tokenizer => tokenizer;

    /// <summary>Ids 0..IdRange-1 belong to the tokenizer; IdRange is end of text.</summary>
    public int IdRange => vocabularySize;

    public string Fingerprint { get; }

    public override int VocabularySize => vocabularySize + 1;

    public override int EndOfText => vocabularySize;

    public override TextTokenization Kind => TextTokenization.Tokenizer;

    public override int[] Encode(string text)
    {
        var encoded = tokenizer.EncodeToIds(text, considerPreTokenization: true, considerNormalization: true);
        foreach (int id in encoded)
        {
            if (id < 0 || id >= vocabularySize)
                throw new ArgumentException($"The tokenizer produced id {id}, outside the model's id range 0..{vocabularySize - 1}.", nameof(text));
        }
        return encoded.ToArray();
    }

    public override string Decode(IReadOnlyList<int> tokenIds)
        => tokenizer.Decode(tokenIds.Where(id => id >= 0 && id < vocabularySize)) ?? "";

    protected override void SaveCore(BinaryWriter writer)
    {
        writer.Write(tokenizer.GetType().FullName ?? "");
        writer.Write(vocabularySize);
        writer.Write(Fingerprint);
    }

    /// <summary>
    /// The tokenizer's id range: the largest id any vocabulary-like property reports (BPE, WordPiece, Tiktoken, ...
    /// all expose one), found by reflection so that every Microsoft.ML.Tokenizers model works.
    /// </summary>
    private static int MeasureIdRange(MLTokenizer tokenizer)
    {
        int max = -1;
        foreach (var property in tokenizer.GetType().GetProperties())
        {
            if (property.GetIndexParameters().Length != 0)
                continue;
            object? value;
            try
            {
                value = property.GetValue(tokenizer);
            }
            catch (System.Reflection.TargetInvocationException)
            {
                continue;
            }
            if (value is IEnumerable<KeyValuePair<string, int>> vocabulary)
                foreach (var pair in vocabulary)
                    max = Math.Max(max, pair.Value);
            else if (value is IEnumerable<KeyValuePair<int, string>> reverse)
                foreach (var pair in reverse)
                    max = Math.Max(max, pair.Key);
        }
        if (max < 0)
            throw new ArgumentException($"Cannot find the vocabulary of tokenizer {tokenizer.GetType().Name}: it exposes no string-to-id dictionary.");
        return max + 1;
    }

    /// <summary>Ids of a fixed probe text: tells a different tokenizer from the one the model learned with.</summary>
    internal static string ComputeFingerprint(MLTokenizer tokenizer)
        => string.Join(',', tokenizer.EncodeToIds("The quick brown fox jumps over the lazy dog. 0123456789 {}[]()!?"));
}

/// <summary>
/// A model trained with a Microsoft.ML.Tokenizers tokenizer, loaded from a zip: knows the id range and the
/// fingerprint, and refuses to encode until the tokenizer is supplied again (MixerLanguageModelTransformer.WithTokenizer).
/// </summary>
internal sealed class DetachedTokenizer : TextTokenizer
{
    public DetachedTokenizer(string typeName, int idRange, string fingerprint)
    {
        TypeName = typeName;
        IdRange = idRange;
        Fingerprint = fingerprint;
    }

    public string TypeName { get; }

    public int IdRange { get; }

    public string Fingerprint { get; }

    public override int VocabularySize => IdRange + 1;

    public override int EndOfText => IdRange;

    public override TextTokenization Kind => TextTokenization.Tokenizer;

    public override int[] Encode(string text) => throw Missing();

    public override string Decode(IReadOnlyList<int> ids) => throw Missing();

    private InvalidOperationException Missing() => new(
        $"This language model was trained with a Microsoft.ML.Tokenizers tokenizer ({TypeName}), which the model zip does not hold. " +
        "Call WithTokenizer(tokenizer) on the loaded transformer with the same tokenizer before generating or evaluating.");

    /// <summary>Checks that <paramref name="tokenizer"/> is the one the model was trained with and attaches it.</summary>
    public MLTokenizerAdapter Attach(MLTokenizer tokenizer)
    {
        string fingerprint = MLTokenizerAdapter.ComputeFingerprint(tokenizer);
        if (fingerprint != Fingerprint)
            throw new ArgumentException(
                $"The tokenizer does not match the one the model was trained with ({TypeName}): it encodes the probe text differently.", nameof(tokenizer));
        return new MLTokenizerAdapter(tokenizer, IdRange);
    }

    protected override void SaveCore(BinaryWriter writer)
    {
        writer.Write(TypeName);
        writer.Write(IdRange);
        writer.Write(Fingerprint);
    }

    internal static DetachedTokenizer LoadCore(BinaryReader reader) => new(reader.ReadString(), reader.ReadInt32(), reader.ReadString());
}
