using Microsoft.ML;
using MLNetMixers.Compression;
using MLNetMixers.Tests.Text;
using MLNetMixers.Text;
using static TorchSharp.torch;

namespace MLNetMixers.Tests.Compression;

/// <summary>Two tiny encoder-augmented models (the same data and settings, two seeds), trained once for the memory-code tests.</summary>
public sealed class MemoryCodeFixture : IDisposable
{
    public MemoryCodeFixture()
    {
        var ml = new MLContext(seed: 1);
        Data = TextTestHelpers.AsDataView(ml, TextTestHelpers.FortuneDocuments(60));
        Coded = ml.Transforms.Text.TrainMixerLanguageModel("Text", Options(seed: 0)).Fit(Data);
        OtherCoded = ml.Transforms.Text.TrainMixerLanguageModel("Text", Options(seed: 5)).Fit(Data);
    }

    internal static MixerLanguageModelOptions Options(int seed)
    {
        var options = TextTestHelpers.TinyOptions(MixerLanguageModelArchitecture.ToeplitzMixer);
        options.ContextLength = 16;
        options.MemoryCodeSize = 6;
        options.MemoryCodeBits = 3;
        options.MemoryEncoderWidth = 16;
        options.MemoryEncoderDepth = 1;
        options.Seed = seed;
        return options;
    }

    public IDataView Data { get; }

    public MixerLanguageModelTransformer Coded { get; }

    public MixerLanguageModelTransformer OtherCoded { get; }

    public void Dispose()
    {
        Coded.Dispose();
        OtherCoded.Dispose();
    }
}

/// <summary>The encoder-augmented causal decoder: its windows' codes travel in the compressed stream and count in every figure.</summary>
public class MemoryCodeTests : IClassFixture<MemoryCodeFixture>
{
    private readonly MemoryCodeFixture models;
    private readonly ITestOutputHelper output;

    public MemoryCodeTests(MemoryCodeFixture models, ITestOutputHelper output)
    {
        this.models = models;
        this.output = output;
        set_num_threads(1);
    }

    private static byte[] Input(string name) => name switch
    {
        "empty" => [],
        "one-byte" => [(byte)'x'],
        "binary" => Enumerable.Range(0, 1500).Select(i => (byte)(i * 7919 % 251)).ToArray(),
        "unicode" => System.Text.Encoding.UTF8.GetBytes("Ünïcödé: 日本語のテキスト, emoji 🎉🦀, e\u0301, עברית, \0 end. The cat sat on the mat."),
        "few-kb" => System.Text.Encoding.UTF8.GetBytes(string.Join("\n%\n", TextTestHelpers.FortuneDocuments(20, skip: 200))),
        _ => throw new ArgumentOutOfRangeException(nameof(name)),
    };

    private static (byte[] Compressed, CompressionStatistics Statistics) Compress(MixerLanguageModelTransformer model, byte[] data, int lanes)
    {
        using var compressed = new MemoryStream();
        var statistics = model.Compress(new MemoryStream(data), compressed, new LanguageModelCompressionOptions { Lanes = lanes, NumberOfThreads = 1 });
        return (compressed.ToArray(), statistics);
    }

    private static byte[] Decompress(MixerLanguageModelTransformer model, byte[] compressed)
    {
        using var restored = new MemoryStream();
        model.Decompress(new MemoryStream(compressed), restored);
        return restored.ToArray();
    }

    [Theory]
    [InlineData("empty", 1)]
    [InlineData("one-byte", 1)]
    [InlineData("binary", 3)]
    [InlineData("unicode", 2)]
    [InlineData("few-kb", 1)]
    [InlineData("few-kb", 5)]
    public void RoundTripsExactlyWithTheCodesInTheStream(string input, int lanes)
    {
        var data = Input(input);
        var (compressed, statistics) = Compress(models.Coded, data, lanes);
        Assert.Equal(compressed.Length, statistics.CompressedBytes);
        Assert.Equal(data, Decompress(models.Coded, compressed));
        output.WriteLine($"{input}, {lanes} lanes: {data.Length} -> {compressed.Length} bytes, {statistics.EscapedBytes} escaped");
    }

    [Fact]
    public void CompressedSizeIsTheSurprisalPlusTheCodeBitsWithinTheCodersOverhead()
    {
        var model = models.Coded;
        var vocabulary = ((CharacterTokenizer)model.Tokenizer).Characters;
        string text = string.Join(" ", TextTestHelpers.FortuneDocuments(100, skip: 300).Where(d => d.All(vocabulary.Contains)).Take(6));
        var data = System.Text.Encoding.UTF8.GetBytes(text);
        var (compressed, statistics) = Compress(model, data, lanes: 1);
        Assert.Equal(0, statistics.EscapedBytes);

        var (surprisalBits, windows) = DecoderBits(model, model.Tokenizer.Encode(text), model.Tokenizer.EndOfText);
        double codeBits = windows * 6 * 3;
        Assert.Equal(18, model.MemoryCodeBitsPerWindow);
        Assert.Equal(codeBits, statistics.MemoryCodeBits);
        double overheadPerToken = new FrequencyTable(model.Tokenizer.VocabularySize).OverheadBitsPerSymbol;
        double fixedBits = (LanguageModelCompressor.HeaderBytes + 5) * 8;
        double bits = compressed.Length * 8.0;
        output.WriteLine($"{windows} windows: surprisal {surprisalBits:F0} + codes {codeBits:F0} bits, compressed {bits:F0} bits, bound +{statistics.Symbols * overheadPerToken + fixedBits:F0}");
        Assert.InRange(bits, (surprisalBits + codeBits) * 0.999, (surprisalBits + codeBits) * 1.001 + statistics.Symbols * overheadPerToken + fixedBits);
    }

    /// <summary>
    /// The decoder's cost of <paramref name="tokens"/> computed here on full windows of n_ctx − 1 tokens, each read as
    /// [memory of its own code, previous token, window]; and the number of windows.
    /// </summary>
    private static (double Bits, int Windows) DecoderBits(MixerLanguageModelTransformer model, int[] tokens, int previous)
    {
        var memory = model.MemoryCode!;
        int window = model.ContextLength - 1, windows = 0;
        double surprisalBits = 0;
        using (no_grad())
        {
            for (int start = 0; start < tokens.Length; start += window, windows++)
            {
                using var scope = NewDisposeScope();
                var target = tokens[start..Math.Min(tokens.Length, start + window)];
                var levels = memory.LevelsOf(target, CPU);
                Assert.All(levels, l => Assert.InRange(l, 0, (1 << 3) - 1));
                var inputs = tensor(new[] { previous }.Concat(target[..^1]).Select(t => (long)t).ToArray(), [1, target.Length]);
                var logits = model.Model.Forward(inputs, memory.MemoryToken([levels], CPU))[.., 1..];
                var logProbabilities = nn.functional.log_softmax(logits.to(ScalarType.Float32), -1)[0];
                for (int i = 0; i < target.Length; i++)
                    surprisalBits -= logProbabilities[i, target[i]].item<float>() / Math.Log(2);
                previous = target[^1];
            }
        }
        return (surprisalBits, windows);
    }

    [Fact]
    public void AnotherModelRefusesAndTheZipKeepsTheEncoder()
    {
        var data = Input("few-kb");
        var (compressed, _) = Compress(models.Coded, data, lanes: 2);
        using (var restored = new MemoryStream())
        {
            var error = Assert.Throws<InvalidDataException>(() => models.OtherCoded.Decompress(new MemoryStream(compressed), restored));
            Assert.Contains("compressed with a different language model", error.Message);
            Assert.Equal(0, restored.Length);
        }

        var ml = new MLContext(seed: 1);
        string path = Path.Combine(Path.GetTempPath(), $"memory-code-{Guid.NewGuid():N}.zip");
        try
        {
            ml.Model.Save(models.Coded, models.Data.Schema, path);
            using var loaded = (MixerLanguageModelTransformer)ml.Model.Load(path, out _);
            Assert.Equal(models.Coded.MemoryCodeBitsPerWindow, loaded.MemoryCodeBitsPerWindow);
            Assert.Equal(data, Decompress(loaded, compressed));
            Assert.Equal(compressed, Compress(loaded, data, lanes: 2).Compressed);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void EvaluateCountsTheCodeBitsAndGenerationRefuses()
    {
        var heldOut = TextTestHelpers.FortuneDocuments(10, skip: 300);
        var metrics = models.Coded.Evaluate(heldOut);
        long bytes = heldOut.Sum(d => (long)System.Text.Encoding.UTF8.GetByteCount(d)) + heldOut.Length;
        // The held-out stream as training packs it: [EOT] doc [EOT] doc ... [EOT], every token after the first predicted.
        int[] stream = LanguageModelTrainer.Pack(heldOut, models.Coded.Tokenizer);
        var (decoderBits, windows) = DecoderBits(models.Coded, stream[1..], stream[0]);
        Assert.Equal(stream.Length - 1, metrics.Tokens);
        Assert.Equal(windows * 18.0 / bytes, metrics.CodeBitsPerByte, 9);
        double expected = (decoderBits + windows * 18.0) / bytes;
        Assert.InRange(metrics.BitsPerByte, expected * 0.999, expected * 1.001);
        output.WriteLine($"held-out: {metrics.BitsPerByte:F3} bits/byte of which {metrics.CodeBitsPerByte:F3} code");

        var refusal = Assert.Throws<InvalidOperationException>(() => models.Coded.Generate("The "));
        Assert.Contains("encoder-augmented", refusal.Message);
        Assert.Throws<InvalidOperationException>(() => models.Coded.MeasureSurprisal("The cat."));
    }

    [Fact]
    public void OptionsThatCannotGoTogetherAreRefused()
    {
        var ml = new MLContext(seed: 1);
        var bits = MemoryCodeFixture.Options(seed: 0);
        bits.MemoryCodeBits = 0;
        Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.Text.TrainMixerLanguageModel("Text", bits));
        var checkpoints = MemoryCodeFixture.Options(seed: 0);
        checkpoints.CheckpointFolder = Path.GetTempPath();
        Assert.Contains("CheckpointFolder", Assert.Throws<ArgumentException>(() => ml.Transforms.Text.TrainMixerLanguageModel("Text", checkpoints)).Message);
    }
}
