using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetMixers.Memory;
using MLNetMixers.Tests.Text;
using static TorchSharp.torch;

namespace MLNetMixers.Tests.Memory;

/// <summary>The memory language model: its memories carry information, its decoder is causal, its zip round-trips, its options are checked.</summary>
public class MemoryLanguageModelTests
{
    private static readonly string[] Texts = ["the cat sat on the mat. the cat sat on the mat.", "a dog ran in the park! a dog ran", "my hat is red, not tan"];

    private static MixerMemoryLanguageModelOptions Tiny(int steps = 20) => new()
    {
        ChunkLength = 8,
        MemoryWidth = 16,
        Memories = 2,
        Width = 32,
        Depth = 2,
        BatchSize = 8,
        Steps = steps,
        WarmupSteps = 10,
        LearningRate = 3e-3,
        NumberOfThreads = 1,
        Device = MixerDevice.Cpu,
        Seed = 3,
    };

    /// <summary>Documents R + R, R random letters: the second chunk is predictable only from the first chunk's memory.</summary>
    private static string[] Repeated(int count, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ =>
        {
            var r = new string(Enumerable.Range(0, 8).Select(_ => "abcd"[random.Next(4)]).ToArray());
            return r + r;
        }).ToArray();
    }

    [Fact]
    public void MemoriesOfTheRepeatedChunkLowerTheHeldOutLossAgainstTheSameDecoderWithoutThem()
    {
        var ml = new MLContext(1);
        var options = Tiny(steps: 300);
        options.Memories = 1;
        options.MemoryWidth = 32;
        options.BatchSize = 32;
        options.LearningRate = 5e-3;
        options.Objective = MemoryObjective.Combined;
        using var model = ml.Transforms.Text.TrainMixerMemoryLanguageModel("Text", options).Fit(TextTestHelpers.AsDataView(ml, Repeated(600, seed: 1)));
        var metrics = model.Evaluate(TextTestHelpers.AsDataView(ml, Repeated(200, seed: 2)));
        // Without memories the repeat is random letters (ln 4 = 1.39 nats each, about 1.3 per token overall); read from the
        // first chunk's memory it can be free (0.65 overall). A decoder that ignores its memories shows no gap at all.
        Assert.True(metrics.Loss < metrics.LossWithoutMemories - 0.1,
                    $"with memories {metrics.Loss:F3} vs without {metrics.LossWithoutMemories:F3} nats/token: the memories should carry the chunk");
        // Generation reads them: after a full chunk of prompt the next chunk starts from its memory alone.
        var greedy = new TextGenerationOptions { Temperature = 0, MaxNewTokens = 8 };
        Assert.NotEqual(model.Generate("dcbaabcd", greedy), model.Generate("abcddcba", greedy));
    }

    [Fact]
    public void TheDecoderIsCausalAndReadsOnlyTheFilledMemorySlots()
    {
        set_num_threads(1);
        var config = new MemoryLanguageModelConfig(TextTestHelpers.Config("masked", contextLength: 9), 6, 2, TextTestHelpers.Config("masked", contextLength: 11));
        using var model = new MemoryLanguageModel(config);
        model.Initialize(5);
        model.eval();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var generator = new Generator(9);
        var memories = randn([2, 2, 6], generator: generator);
        var tokens = randint(0, 11, [2, 9], dtype: ScalarType.Int64, generator: generator);
        var filled = tensor(new long[] { 1, 1 });
        var mode = tensor(new long[] { 0, 0 });
        var baseline = model.Reader.Logits(memories, filled, mode, tokens);
        Assert.Equal(new long[] { 2, 9, 11 }, baseline.shape);
        foreach (int changed in new[] { 1, 4, 8 })
        {
            // tokens[:, j] is c_{j-1}, first read by position j.
            var altered = tokens.clone();
            altered[.., changed] = (altered[.., changed] + 1) % 11;
            var logits = model.Reader.Logits(memories, filled, mode, altered);
            Assert.True(logits[.., ..changed].allclose(baseline[.., ..changed], rtol: 0, atol: 1e-5), $"positions before {changed} changed");
            Assert.False(logits[.., changed].allclose(baseline[.., changed], rtol: 0, atol: 1e-5), $"position {changed} should read its token");
        }
        // Slot 1 is empty (filled = 1): what it holds is never read; slot 0 is.
        var laterSlot = memories.clone();
        laterSlot[.., 1] += 5;
        Assert.True(model.Reader.Logits(laterSlot, filled, mode, tokens).allclose(baseline, rtol: 0, atol: 1e-5), "an empty slot was read");
        var firstSlot = memories.clone();
        firstSlot[.., 0] += 5;
        Assert.False(model.Reader.Logits(firstSlot, filled, mode, tokens)[.., 0].allclose(baseline[.., 0], rtol: 0, atol: 1e-5), "the memory was not read");
    }

    [Fact]
    public void RoundTripsThroughTheModelZipWithIdenticalOutputs()
    {
        var ml = new MLContext(1);
        var data = TextTestHelpers.AsDataView(ml, Texts);
        using var model = ml.Transforms.Text.TrainMixerMemoryLanguageModel("Text", Tiny()).Fit(data);
        var losses = model.Transform(data).GetColumn<float>("Loss").ToArray();
        Assert.All(losses, l => Assert.InRange(l, 0.01f, 10f));
        var metrics = model.Evaluate(data);
        var generation = new TextGenerationOptions { Temperature = 0.8f, MaxNewTokens = 30, Seed = 4 };
        string text = model.Generate("the cat sat on", generation);
        string path = Path.Combine(Path.GetTempPath(), $"memory-lm-{Guid.NewGuid():N}.zip");
        try
        {
            ml.Model.Save(model, data.Schema, path);
            using var loaded = Assert.IsType<MixerMemoryLanguageModelTransformer>(ml.Model.Load(path, out _));
            Assert.Equal(losses, loaded.Transform(data).GetColumn<float>("Loss").ToArray());
            Assert.Equal(metrics, loaded.Evaluate(data));
            Assert.Equal(text, loaded.Generate("the cat sat on", generation));
            Assert.Equal((8, 16, 2), (loaded.ChunkLength, loaded.MemoryWidth, loaded.Memories));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void AFrozenAutoencoderEncoderKeepsItsMemoriesThroughTheCurriculum()
    {
        var ml = new MLContext(1);
        var data = TextTestHelpers.AsDataView(ml, Texts);
        var autoencoderOptions = MixerAutoencoderTests.Tiny(steps: 5);
        autoencoderOptions.ChunkLength = 8;
        autoencoderOptions.MemoryWidth = 16;
        using var autoencoder = ml.Transforms.Text.TrainMixerAutoencoder("Text", autoencoderOptions).Fit(data);
        var options = Tiny(steps: 10);
        options.Encoder = autoencoder;
        options.FreezeEncoder = true;
        options.Curriculum = true;
        using var model = ml.Transforms.Text.TrainMixerMemoryLanguageModel("Text", options).Fit(data);
        using var scope = NewDisposeScope();
        var (tokens, targets) = MemoryChunks.Rows([autoencoder.Tokenizer.Encode("the cat")], 8, autoencoder.Tokenizer.EndOfText, CPU);
        Tensor MemoryOf(MixerMemoryLanguageModelTransformer m)
        {
            using var noGrad = no_grad();
            return m.Model.Memory(tokens, MemoryChunks.LastReal(targets));
        }
        var memory = MemoryOf(model);
        Assert.True(memory.allclose(tensor(autoencoder.Encode(["the cat"])).view(1, -1), rtol: 0, atol: 1e-5), "the frozen encoder changed");
        // Without freezing, training moves the encoder.
        options.FreezeEncoder = false;
        using var moved = ml.Transforms.Text.TrainMixerMemoryLanguageModel("Text", options).Fit(data);
        Assert.False(MemoryOf(moved).allclose(memory, rtol: 0, atol: 1e-5));
    }

    [Fact]
    public void TheNoMemoryControlTrainsAndHasNothingToLose()
    {
        var ml = new MLContext(1);
        var data = TextTestHelpers.AsDataView(ml, Texts);
        var options = Tiny(steps: 5);
        options.Memories = 0;
        options.Objective = MemoryObjective.Causal;
        using var model = ml.Transforms.Text.TrainMixerMemoryLanguageModel("Text", options).Fit(data);
        var metrics = model.Evaluate(data);
        Assert.Equal(metrics.Loss, metrics.LossWithoutMemories);
        Assert.True(double.IsNaN(metrics.CopyTokenAccuracy));
        Assert.NotEmpty(model.Generate("the cat sat on the mat. the", new TextGenerationOptions { MaxNewTokens = 12, Seed = 1 }) + "x");
    }

    [Fact]
    public void RejectsOptionsThatCannotWorkWithASentence()
    {
        var ml = new MLContext(1);
        var copyWithoutMemories = Tiny();
        copyWithoutMemories.Memories = 0;
        copyWithoutMemories.Objective = MemoryObjective.Copy;
        var error = Assert.Throws<ArgumentException>(() => ml.Transforms.Text.TrainMixerMemoryLanguageModel("Text", copyWithoutMemories));
        Assert.Contains("Memories = 0", error.Message);
        var empty = TextTestHelpers.AsDataView(ml, ["", ""]);
        var noText = Assert.Throws<ArgumentException>(() => ml.Transforms.Text.TrainMixerMemoryLanguageModel("Text", Tiny()).Fit(empty));
        Assert.Contains("'Text' holds no text", noText.Message);
    }
}
