using Microsoft.ML;
using MLNetMixers.Text;

namespace MLNetMixers.Tests.Text;

public class BytePairTokenizerTests
{
    private static readonly Lazy<BytePairTokenizer> Learned = new(() => BytePairTokenizer.Learn(TextTestHelpers.FortuneDocuments(1500), 600));

    [Fact]
    public void LearnsTheRequestedVocabularyAndCompressesHeldOutText()
    {
        var tokenizer = Learned.Value;
        Assert.Equal(600, tokenizer.VocabularySize);
        Assert.Equal(599, tokenizer.EndOfText);
        // The first merge of English text is a frequent pair such as "e " / " t" / "th": never a pair seen once.
        var heldOut = string.Join("\n", TextTestHelpers.FortuneDocuments(200, skip: 2000));
        int bytes = System.Text.Encoding.UTF8.GetByteCount(heldOut);
        var ids = tokenizer.Encode(heldOut);
        Assert.True(ids.Length < 0.6 * bytes, $"{ids.Length} tokens for {bytes} bytes: merges learned on fortunes should cut held-out fortunes by > 40 %.");
        Assert.Equal(heldOut, tokenizer.Decode(ids));
        Assert.DoesNotContain(tokenizer.EndOfText, ids);
    }

    [Theory]
    [InlineData("")]
    [InlineData("plain words, punctuation!?  and   spaces\n\n\ttabs")]
    [InlineData("Ça marche: 😀 – ∑ 日本語 ok")]
    [InlineData("lone \uD800 high, lone \uDC00 low, reversed \uDC00\uD800, pair \uD83D\uDE00")]
    [InlineData("\0\u0001\u007F\u0080\uFFFE\uFFFF\u200B\u00A0 mixed")]
    [InlineData("don't we'll they've I'm 123,456.78")]
    public void RoundTripsAnyDotNetStringExactly(string text)
    {
        var tokenizer = Learned.Value;
        Assert.Equal(text, tokenizer.Decode(tokenizer.Encode(text)));
    }

    [Fact]
    public void RoundTripsRandomUtf16UnitsIncludingBrokenSurrogates()
    {
        var tokenizer = Learned.Value;
        var random = new Random(7);
        for (int trial = 0; trial < 200; trial++)
        {
            var chars = new char[random.Next(0, 40)];
            for (int i = 0; i < chars.Length; i++)
                chars[i] = random.Next(4) switch { 0 => (char)random.Next(0xD800, 0xE000), 1 => (char)random.Next(0, 128), _ => (char)random.Next(0, 0x10000) };
            var text = new string(chars);
            Assert.Equal(text, tokenizer.Decode(tokenizer.Encode(text)));
        }
    }

    [Fact]
    public void MalformedByteSequencesDecodeToReplacementCharactersNotExceptions()
    {
        var tokenizer = Learned.Value;
        Assert.Equal("\uFFFD\uFFFDa", tokenizer.Decode([0xC3, 0xFF, 'a']));
        Assert.Equal("", tokenizer.Decode([tokenizer.EndOfText, -1, 100_000]));
    }

    [Fact]
    public void SavesAndLoadsTheSameMerges()
    {
        var tokenizer = Learned.Value;
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true))
            tokenizer.Save(writer);
        stream.Position = 0;
        var loaded = Assert.IsType<BytePairTokenizer>(TextTokenizer.Load(new BinaryReader(stream)));
        Assert.Equal(tokenizer.Merges, loaded.Merges);
        const string text = "Any fortune: the quick brown fox 😀.";
        Assert.Equal(tokenizer.Encode(text), loaded.Encode(text));
    }

    [Fact]
    public void LearningIsDeterministicAndStopsWhenNoPairRepeats()
    {
        var again = BytePairTokenizer.Learn(TextTestHelpers.FortuneDocuments(1500), 600);
        Assert.Equal(Learned.Value.Merges, again.Merges);
        // "abab" has the pair (a, b) twice, then (ab, ab) once: one merge only, whatever the size asked for.
        var tiny = BytePairTokenizer.Learn(["abab"], 1000);
        Assert.Single(tiny.Merges);
        Assert.Equal(258, tiny.VocabularySize);
    }

    [Fact]
    public void SubwordModelSurvivesTheZipRoundTrip()
    {
        var ml = new MLContext(seed: 1);
        var options = TextTestHelpers.TinyOptions();
        options.Tokenization = TextTokenization.Subwords;
        options.SubwordVocabularySize = 400;
        options.Steps = 5;
        var data = TextTestHelpers.AsDataView(ml, TextTestHelpers.FortuneDocuments(200));
        using var model = ml.Transforms.Text.TrainMixerLanguageModel("Text", options).Fit(data);
        Assert.IsType<BytePairTokenizer>(model.Tokenizer);
        string path = Path.Combine(Path.GetTempPath(), $"bpe-lm-{Guid.NewGuid():N}.zip");
        try
        {
            ml.Model.Save(model, data.Schema, path);
            using var loaded = (MixerLanguageModelTransformer)ml.Model.Load(path, out _);
            var original = (BytePairTokenizer)model.Tokenizer;
            Assert.Equal(original.Merges, Assert.IsType<BytePairTokenizer>(loaded.Tokenizer).Merges);
            var greedy = new TextGenerationOptions { Temperature = 0, MaxNewTokens = 10 };
            Assert.Equal(model.Generate("The ", greedy), loaded.Generate("The ", greedy));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
