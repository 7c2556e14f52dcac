using MLNetMixers.Text;

namespace MLNetMixers.Tests.Text;

public class TokenizerTests
{
    [Fact]
    public void CharacterVocabularyRoundTripsCorpusTextAndMapsUnseenCharactersToUnknown()
    {
        var corpus = TextTestHelpers.FortuneDocuments(50);
        var tokenizer = CharacterTokenizer.Learn(corpus);
        foreach (var document in corpus)
            Assert.Equal(document, tokenizer.Decode(tokenizer.Encode(document)));

        var unseen = tokenizer.Encode("a\u4E2Db");
        Assert.Equal(CharacterTokenizer.Unknown, unseen[1]);
        Assert.Equal("a\uFFFDb", tokenizer.Decode(unseen));
        Assert.DoesNotContain(tokenizer.EndOfText, tokenizer.Encode(string.Join("\n", corpus)));
        Assert.Equal(tokenizer.Characters.Length + 2, tokenizer.VocabularySize);
    }

    [Fact]
    public void BytesRoundTripAnyTextIncludingSurrogatePairs()
    {
        var tokenizer = new ByteTokenizer();
        const string text = "Ça marche: 😀 – ∑ ok";
        var ids = tokenizer.Encode(text);
        Assert.All(ids, id => Assert.InRange(id, 0, 255));
        Assert.Equal(System.Text.Encoding.UTF8.GetByteCount(text), ids.Length);
        Assert.Equal(text, tokenizer.Decode(ids));
        Assert.Equal("", tokenizer.Decode([tokenizer.EndOfText]));
    }

    [Fact]
    public void MicrosoftMLTokenizerAdapterRoundTripsAndReservesEndOfTextPastItsIds()
    {
        var bpe = TextTestHelpers.SmallBpe();
        var adapter = new MLTokenizerAdapter(bpe);
        const string text = "the other one is in our hut, there!";
        var ids = adapter.Encode(text);
        Assert.True(ids.Length < text.Length, "merges should shorten the sequence");
        Assert.Equal(text, adapter.Decode(ids));
        Assert.Equal(adapter.VocabularySize - 1, adapter.EndOfText);
        Assert.All(ids, id => Assert.InRange(id, 0, adapter.EndOfText - 1));
    }

    [Fact]
    public void TokenizersSurviveSaveAndLoad()
    {
        var character = CharacterTokenizer.Learn(["hello world"]);
        var stream = new MemoryStream();
        using (var w = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            character.Save(w);
            new ByteTokenizer().Save(w);
            new MLTokenizerAdapter(TextTestHelpers.SmallBpe()).Save(w);
        }
        stream.Position = 0;
        using var r = new BinaryReader(stream);
        var loadedCharacters = Assert.IsType<CharacterTokenizer>(TextTokenizer.Load(r));
        Assert.Equal(character.Characters, loadedCharacters.Characters);
        Assert.IsType<ByteTokenizer>(TextTokenizer.Load(r));
        var detached = Assert.IsType<DetachedTokenizer>(TextTokenizer.Load(r));
        var error = Assert.Throws<InvalidOperationException>(() => detached.Encode("the"));
        Assert.Contains("WithTokenizer", error.Message);
        var attached = detached.Attach(TextTestHelpers.SmallBpe());
        Assert.Equal("the hut", attached.Decode(attached.Encode("the hut")));
    }
}
