using Microsoft.ML;
using Microsoft.ML.Tokenizers;
using MLNetMixers.Models;

namespace MLNetMixers.Tests.Text;

internal sealed class TextRow
{
    public string Text { get; set; } = "";
}

internal static class TextTestHelpers
{
    private static readonly Lazy<string[]> Fortunes = new(() => File.ReadAllText(TestData.Text("fortunes.txt"))
        .Split("\n%\n", StringSplitOptions.RemoveEmptyEntries)
        .Select(f => f.Trim())
        .Where(f => f.Length is > 20 and < 300)
        .ToArray());

    /// <summary>Real fortunes (the shared corpus), a deterministic slice.</summary>
    public static string[] FortuneDocuments(int count, int skip = 0) => Fortunes.Value.Skip(skip).Take(count).ToArray();

    public static IDataView AsDataView(MLContext ml, IEnumerable<string> documents)
        => ml.Data.LoadFromEnumerable(documents.Select(d => new TextRow { Text = d }).ToList());

    /// <summary>Tiny, fast settings: one thread, narrow model, few steps.</summary>
    public static MixerLanguageModelOptions TinyOptions(MixerLanguageModelArchitecture architecture = MixerLanguageModelArchitecture.MaskedMixer) => new()
    {
        Architecture = architecture,
        ContextLength = 32,
        Width = 32,
        Depth = 2,
        Heads = architecture is MixerLanguageModelArchitecture.Transformer or MixerLanguageModelArchitecture.StructuredRecurrentMixer ? 2 : 1,
        BatchSize = 8,
        Steps = 30,
        WarmupSteps = 5,
        LearningRate = 3e-3,
        NumberOfThreads = 1,
        Device = MixerDevice.Cpu,
        LogInterval = 10,
    };

    private static readonly string[] Kinds = ["masked", "masked-heads", "toeplitz", "toeplitz-heads", "transformer", "srm"];

    /// <summary>Every architecture and head layout, with n_ctx and width small enough for exhaustive checks.</summary>
    public static TheoryData<string> ModelKinds() => new(Kinds);

    public static LanguageModelConfig Config(string kind, int contextLength = 24, int vocabulary = 11) => kind switch
    {
        "masked" => new(MixerLanguageModelArchitecture.MaskedMixer, vocabulary, contextLength, 16, 2, 1, 2, 0),
        "masked-heads" => new(MixerLanguageModelArchitecture.MaskedMixer, vocabulary, contextLength, 16, 2, 4, 2, 0),
        "toeplitz" => new(MixerLanguageModelArchitecture.ToeplitzMixer, vocabulary, contextLength, 16, 2, 1, 2, 0),
        "toeplitz-heads" => new(MixerLanguageModelArchitecture.ToeplitzMixer, vocabulary, contextLength, 16, 2, 4, 2, 0),
        "transformer" => new(MixerLanguageModelArchitecture.Transformer, vocabulary, contextLength, 16, 2, 4, 2, 0),
        "srm" => new(MixerLanguageModelArchitecture.StructuredRecurrentMixer, vocabulary, contextLength, 16, 2, 4, 2, 0),
        "llama" => new(MixerLanguageModelArchitecture.LlamaTransformer, vocabulary, contextLength, 16, 2, 4, 2, 0),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    /// <summary>A byte-pair tokenizer built from an in-memory vocabulary and merges: no download.</summary>
    public static Tokenizer SmallBpe()
    {
        const string alphabet = "abcdefghijklmnopqrstuvwxyz .,!?'";
        var vocabulary = alphabet.Select((c, i) => new KeyValuePair<string, int>(c.ToString(), i)).ToList();
        string[] merges = ["t h", "th e", "e r", "i n", "o u"];
        foreach (var merge in merges)
            vocabulary.Add(new(merge.Replace(" ", ""), vocabulary.Count));
        // Words and single non-word characters, so spaces survive the round trip.
        var preTokenizer = new RegexPreTokenizer(new System.Text.RegularExpressions.Regex(@"\w+|\W"), null);
        return BpeTokenizer.Create(new BpeOptions(vocabulary) { Merges = merges, PreTokenizer = preTokenizer });
    }
}
