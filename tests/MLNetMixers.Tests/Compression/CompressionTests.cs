using System.Diagnostics;
using System.Text;
using Microsoft.ML;
using MLNetMixers.Compression;
using MLNetMixers.Models;
using MLNetMixers.Tests.Text;
using MLNetMixers.Text;
using static TorchSharp.torch;

namespace MLNetMixers.Tests.Compression;

/// <summary>Lossless round trips of the language-model compressor, its refusals, and its size against the model's surprisal.</summary>
public class CompressionTests : IClassFixture<CompressionFixture>
{
    private readonly CompressionFixture models;
    private readonly ITestOutputHelper output;

    public CompressionTests(CompressionFixture models, ITestOutputHelper output)
    {
        this.models = models;
        this.output = output;
        set_num_threads(1);
    }

    public static TheoryData<string> Inputs() => new() { "empty", "one-byte", "binary", "unicode", "invalid-utf8", "long-text" };

    private static byte[] Input(string name) => name switch
    {
        "empty" => [],
        "one-byte" => [(byte)'x'],
        "binary" => RandomBytes(3000, seed: 4),
        // Characters the fortunes never use: CJK, emoji outside the BMP, combining marks, a right-to-left script, NUL.
        "unicode" => System.Text.Encoding.UTF8.GetBytes("Ünïcödé: 日本語のテキスト, emoji 🎉🦀 (non-BMP), e\u0301, עברית, \0 end. The cat sat."),
        // A lone continuation byte, a truncated sequence, an overlong encoding and an encoded surrogate among valid text.
        "invalid-utf8" => [.. "ok "u8, 0x80, .. " then "u8, 0xE2, 0x82, .. " and "u8, 0xC0, 0xAF, 0xED, 0xA0, 0x80, .. " done"u8],
        "long-text" => System.Text.Encoding.UTF8.GetBytes(string.Join("\n%\n", TextTestHelpers.FortuneDocuments(40, skip: 200))),
        _ => throw new ArgumentOutOfRangeException(nameof(name)),
    };

    private static byte[] RandomBytes(int count, int seed)
    {
        var bytes = new byte[count];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private static (byte[] Compressed, CompressionStatistics Statistics) Compress(MixerLanguageModelTransformer model, byte[] data, int lanes = 0)
    {
        using var compressed = new MemoryStream();
        var statistics = model.Compress(new MemoryStream(data), compressed, new LanguageModelCompressionOptions { Lanes = lanes, NumberOfThreads = 1 });
        return (compressed.ToArray(), statistics);
    }

    private static byte[] Decompress(MixerLanguageModelTransformer model, byte[] compressed)
    {
        using var restored = new MemoryStream();
        long written = model.Decompress(new MemoryStream(compressed), restored);
        Assert.Equal(restored.Length, written);
        return restored.ToArray();
    }

    [Theory]
    [MemberData(nameof(Inputs))]
    public void CharacterModelRoundTripsAnyBytes(string input)
    {
        var data = Input(input);
        var (compressed, statistics) = Compress(models.Characters, data);
        Assert.Equal(compressed.Length, statistics.CompressedBytes);
        Assert.Equal(data, Decompress(models.Characters, compressed));
        output.WriteLine($"{input}: {data.Length} -> {compressed.Length} bytes, {statistics.EscapedBytes} escaped");
    }

    [Theory]
    [MemberData(nameof(Inputs))]
    public void ByteModelRoundTripsAnyBytes(string input)
    {
        var data = Input(input);
        var (compressed, statistics) = Compress(models.Bytes, data, lanes: 3);
        Assert.Equal(0, statistics.EscapedBytes);
        Assert.Equal(data, Decompress(models.Bytes, compressed));
    }

    [Fact]
    public void TokenizerModelEscapesWhatItsVocabularyCannotSay()
    {
        // A lower-case BPE vocabulary: capitals, digits, newlines and non-ASCII go through the escape.
        var tokenizer = new MLTokenizerAdapter(TextTestHelpers.SmallBpe());
        using var model = CompressionFixture.Untrained("masked", tokenizer);
        var data = System.Text.Encoding.UTF8.GetBytes("the other one, in our house! Then 42 cafés\nend").Concat(new byte[] { 0xFF, 0x00 }).ToArray();
        var (compressed, statistics) = Compress(model, data, lanes: 2);
        Assert.InRange(statistics.EscapedBytes, 1, data.Length - 20);
        Assert.Equal(data, Decompress(model, compressed));
    }

    [Theory]
    [MemberData(nameof(Inputs))]
    public void SubwordModelRoundTripsAnyBytes(string input)
    {
        var tokenizer = BytePairTokenizer.Learn(TextTestHelpers.FortuneDocuments(50), vocabularySize: 320);
        using var model = CompressionFixture.Untrained("masked", tokenizer);
        var data = Input(input);
        var (compressed, statistics) = Compress(model, data, lanes: 4);
        Assert.True(statistics.Symbols < data.Length || data.Length < 2 || input == "binary", $"{statistics.Symbols} symbols for {data.Length} bytes: merges unused");
        Assert.Equal(data, Decompress(model, compressed));
    }

    [Theory]
    [MemberData(nameof(TextTestHelpers.ModelKinds), MemberType = typeof(TextTestHelpers))]
    public void EveryArchitectureRoundTripsPastItsContext(string kind)
    {
        using var model = CompressionFixture.Untrained(kind, new CharacterTokenizer(" abcdefghijklmnopqrstuvwxyz"), contextLength: 8);
        var data = System.Text.Encoding.UTF8.GetBytes("the quick brown fox jumps over the lazy dog, then THE END");
        foreach (int lanes in new[] { 1, 4 })
            Assert.Equal(data, Decompress(model, Compress(model, data, lanes).Compressed));
    }

    [Fact]
    public void OneMegabyteRoundTripsExactly()
    {
        // Fortune text with random binary stretches: both the token and the escape paths, many context slides.
        var text = System.Text.Encoding.UTF8.GetBytes(string.Join("\n%\n", TextTestHelpers.FortuneDocuments(400)));
        var data = new byte[1 << 20];
        var random = new Random(9);
        for (int at = 0; at < data.Length;)
        {
            int n = Math.Min(data.Length - at, random.Next(100, 5000));
            if (random.Next(4) == 0)
                random.NextBytes(data.AsSpan(at, n));
            else
                for (int i = 0; i < n; i++)
                    data[at + i] = text[(at + i) % text.Length];
            at += n;
        }
        // The smallest byte model (d = 8, one block, n_ctx = 16) and 1024 lanes keep this to seconds: the coder's work is the same.
        var languageModel = new LanguageModel(new LanguageModelConfig(MixerLanguageModelArchitecture.MaskedMixer, 257, 16, 8, 1, 1, 2, 0));
        languageModel.Initialize(seed: 2);
        using var model = new MixerLanguageModelTransformer(new MLContext(1), languageModel, new ByteTokenizer(), CPU, "Text", "Out", new TextGenerationOptions());
        var clock = Stopwatch.StartNew();
        var (compressed, statistics) = Compress(model, data, lanes: 1024);
        double compress = clock.Elapsed.TotalSeconds;
        clock.Restart();
        Assert.Equal(data, Decompress(model, compressed));
        output.WriteLine($"1 MiB: {statistics.BitsPerByte:F3} bits/byte; compress {compress:F1} s, decompress {clock.Elapsed.TotalSeconds:F1} s");
    }

    [Fact]
    public void AnotherModelRefusesWithOneClearSentence()
    {
        var (compressed, _) = Compress(models.Characters, System.Text.Encoding.UTF8.GetBytes("A short fortune."));
        using var restored = new MemoryStream();
        var error = Assert.Throws<InvalidDataException>(() => models.OtherCharacters.Decompress(new MemoryStream(compressed), restored));
        Assert.Contains("compressed with a different language model", error.Message);
        Assert.Equal(0, restored.Length);
        var notCompressed = Assert.Throws<InvalidDataException>(() => models.Characters.Decompress(new MemoryStream("plain text"u8.ToArray()), restored));
        Assert.Contains("not a file written by the language-model compressor", notCompressed.Message);
    }

    [Fact]
    public void DamagedPayloadFailsTheChecksumInsteadOfReturningWrongBytes()
    {
        var data = Input("long-text");
        var (compressed, _) = Compress(models.Characters, data);
        compressed[LanguageModelCompressor.HeaderBytes + compressed.Length / 2 - LanguageModelCompressor.HeaderBytes / 2] ^= 0x10;
        using var restored = new MemoryStream();
        var error = Assert.Throws<InvalidDataException>(() => models.Characters.Decompress(new MemoryStream(compressed), restored));
        Assert.Contains("checksum", error.Message);
        Assert.Equal(0, restored.Length);
    }

    [Fact]
    public void CompressedSizeIsTheModelsSurprisalWithinTheCodersOverhead()
    {
        // Fortunes the model did not train on, longer than its 32-token context: the sliding windows on both sides.
        var vocabulary = ((CharacterTokenizer)models.Characters.Tokenizer).Characters;
        string text = string.Join(" ", TextTestHelpers.FortuneDocuments(100, skip: 300).Where(d => d.All(vocabulary.Contains)).Take(15));
        var data = System.Text.Encoding.UTF8.GetBytes(text);
        var surprisal = models.Characters.MeasureSurprisal(text);
        var (compressed, statistics) = Compress(models.Characters, data, lanes: 1);
        Assert.Equal(0, statistics.EscapedBytes);
        Assert.Equal(surprisal.Bits.Length, statistics.Symbols);

        double overheadPerToken = new FrequencyTable(models.Characters.Tokenizer.VocabularySize).OverheadBitsPerSymbol;
        double fixedBits = (LanguageModelCompressor.HeaderBytes + 5) * 8;
        double bits = compressed.Length * 8.0;
        output.WriteLine($"surprisal {surprisal.TotalBits:F0} bits, compressed {bits:F0} bits, bound +{statistics.Symbols * overheadPerToken + fixedBits:F0}");
        // Full-sequence and incremental logits differ in their last bits: 0.1 % slack on the model's sum.
        Assert.InRange(bits, surprisal.TotalBits * 0.999, surprisal.TotalBits * 1.001 + statistics.Symbols * overheadPerToken + fixedBits);
        Assert.True(statistics.BitsPerByte < 8, "a trained model must beat storing the bytes");
    }
}
