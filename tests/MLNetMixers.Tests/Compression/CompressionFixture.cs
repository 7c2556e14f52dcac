using Microsoft.ML;
using MLNetMixers.Models;
using MLNetMixers.Tests.Text;
using MLNetMixers.Text;

namespace MLNetMixers.Tests.Compression;

/// <summary>Small trained language models shared by the compression tests (trained once: a few seconds each).</summary>
public sealed class CompressionFixture : IDisposable
{
    public CompressionFixture()
    {
        var ml = new MLContext(seed: 1);
        var data = TextTestHelpers.AsDataView(ml, TextTestHelpers.FortuneDocuments(60));
        Characters = ml.Transforms.Text.TrainMixerLanguageModel("Text", TextTestHelpers.TinyOptions()).Fit(data);
        var bytes = TextTestHelpers.TinyOptions();
        bytes.Tokenization = TextTokenization.Bytes;
        Bytes = ml.Transforms.Text.TrainMixerLanguageModel("Text", bytes).Fit(data);
        var other = TextTestHelpers.TinyOptions();
        other.Seed = 5;
        OtherCharacters = ml.Transforms.Text.TrainMixerLanguageModel("Text", other).Fit(data);
    }

    public MixerLanguageModelTransformer Characters { get; }

    public MixerLanguageModelTransformer Bytes { get; }

    /// <summary>The same settings and data as <see cref="Characters"/>, another seed: the same vocabulary, other weights.</summary>
    public MixerLanguageModelTransformer OtherCharacters { get; }

    /// <summary>An untrained model of the given kind (weights from a seed) over a character vocabulary.</summary>
    internal static MixerLanguageModelTransformer Untrained(string kind, TextTokenizer tokenizer, int contextLength = 16)
    {
        var model = new LanguageModel(TextTestHelpers.Config(kind, contextLength, tokenizer.VocabularySize));
        model.Initialize(seed: 3);
        return new MixerLanguageModelTransformer(new MLContext(1), model, tokenizer, TorchSharp.torch.CPU, "Text", "Out", new TextGenerationOptions());
    }

    public void Dispose()
    {
        Characters.Dispose();
        Bytes.Dispose();
        OtherCharacters.Dispose();
    }
}
