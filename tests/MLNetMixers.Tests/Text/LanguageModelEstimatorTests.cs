using Microsoft.ML;
using Microsoft.ML.Data;
using static TorchSharp.torch;

namespace MLNetMixers.Tests.Text;

/// <summary>The estimator and transformer end to end: real ML.NET pipelines, real torch training, real model zips.</summary>
public class LanguageModelEstimatorTests
{
    private const string Verse = "the quick brown fox jumps over the lazy dog.";

    [Theory]
    [InlineData(MixerPrecision.Float32)]
    [InlineData(MixerPrecision.BFloat16)]
    public void TinyMaskedMixerMemorisesAShortTextExactly(MixerPrecision precision)
    {
        var ml = new MLContext(seed: 1);
        var messages = new List<(Microsoft.ML.Runtime.ChannelMessageKind Kind, string Text)>();
        ml.Log += (_, e) => { lock (messages) messages.Add((e.Kind, e.Message)); };
        var options = TextTestHelpers.TinyOptions();
        options.Precision = precision;
        options.ContextLength = 64;
        options.Steps = 150;
        options.WarmupSteps = 10;
        options.LearningRate = 1e-2;
        options.BatchSize = 4;
        using var model = ml.Transforms.Text.TrainMixerLanguageModel("Text", options).Fit(TextTestHelpers.AsDataView(ml, [Verse]));

        var greedy = new TextGenerationOptions { Temperature = 0, MaxNewTokens = 100 };
        Assert.Equal(Verse, model.Generate("", greedy));
        Assert.Equal(Verse["the quick ".Length..], model.Generate("the quick ", greedy));
        var metrics = model.Evaluate(TextTestHelpers.AsDataView(ml, [Verse]), "Text");
        Assert.True(metrics.Loss < 0.05, $"memorised text should have near-zero loss, got {metrics.Loss}");
        // bfloat16 training hands back the float32 masters, and says how fast bfloat16 is on this CPU (a warning where it is slower).
        Assert.All(model.Model.parameters(), p => Assert.Equal(ScalarType.Float32, p.dtype));
        if (precision == MixerPrecision.BFloat16)
        {
            var speeds = MLNetMixers.Training.BFloat16Training.CpuMatmulSpeeds;
            var kind = speeds.BFloat16Speedup < 1 ? Microsoft.ML.Runtime.ChannelMessageKind.Warning : Microsoft.ML.Runtime.ChannelMessageKind.Info;
            lock (messages)
                Assert.Single(messages, m => m.Kind == kind && m.Text.Contains($"({speeds.BFloat16Speedup:F2}x)"));
        }
    }

    [Fact]
    public void NumberOfThreadsHoldsWhileTrainingAndIsRestoredAfter()
    {
        int before = get_num_threads();
        set_num_threads(3);
        try
        {
            var ml = new MLContext(seed: 1);
            var seen = new List<int>();
            var options = TextTestHelpers.TinyOptions();
            options.Steps = 4;
            options.LogInterval = 1;
            options.Progress = new SyncLanguageModelProgress(_ => seen.Add(get_num_threads()));
            using var model = ml.Transforms.Text.TrainMixerLanguageModel("Text", options).Fit(TextTestHelpers.AsDataView(ml, [Verse]));
            Assert.NotEmpty(seen);
            Assert.All(seen, threads => Assert.Equal(1, threads));
            Assert.Equal(3, get_num_threads());
        }
        finally
        {
            set_num_threads(before);
        }
    }

    private sealed class SyncLanguageModelProgress(Action<LanguageModelTrainingProgress> report) : IProgress<LanguageModelTrainingProgress>
    {
        public void Report(LanguageModelTrainingProgress value) => report(value);
    }

    [Theory]
    [InlineData(MixerLanguageModelArchitecture.MaskedMixer)]
    [InlineData(MixerLanguageModelArchitecture.ToeplitzMixer)]
    [InlineData(MixerLanguageModelArchitecture.Transformer)]
    [InlineData(MixerLanguageModelArchitecture.StructuredRecurrentMixer)]
    public void ZipRoundTripGivesTheSameTextWithTheSameSeed(MixerLanguageModelArchitecture architecture)
    {
        var ml = new MLContext(seed: 1);
        var data = TextTestHelpers.AsDataView(ml, TextTestHelpers.FortuneDocuments(60));
        var options = TextTestHelpers.TinyOptions(architecture);
        options.Generation = new TextGenerationOptions { MaxNewTokens = 40, Temperature = 0.9f, TopK = 20, TopP = 0.95f, Seed = 42 };
        using var trained = ml.Transforms.Text.TrainMixerLanguageModel("Text", options).Fit(data);
        string before = trained.Generate("What is ");

        string path = Path.Combine(TestData.NewTempFolder(), "lm.zip");
        ml.Model.Save(trained, data.Schema, path);
        var loadedContext = new MLContext();
        var loaded = loadedContext.Model.Load(path, out var schema);
        var lm = Assert.IsType<MixerLanguageModelTransformer>(loaded);
        Assert.Equal(architecture, lm.Architecture);
        Assert.Equal(before, lm.Generate("What is "));
        Assert.NotEqual(before, lm.Generate("What is ", new TextGenerationOptions { MaxNewTokens = 40, Temperature = 0.9f, Seed = 43 }));
        Assert.Equal(trained.Evaluate(data, "Text").Loss, lm.Evaluate(data, "Text").Loss, 1e-5);

        // As a transformer: the prompt column (the text column by default) maps to GeneratedText.
        var prompts = TextTestHelpers.AsDataView(loadedContext, ["What is ", ""]);
        var output = loaded.Transform(prompts);
        var generated = output.GetColumn<ReadOnlyMemory<char>>("GeneratedText").Select(m => m.ToString()).ToArray();
        Assert.Equal(before, generated[0]);
        Assert.Equal(2, generated.Length);

        // The batch API on the loaded model: the same text as one by one, in prompt order.
        var batch = lm.Generate(["", "What is "], batchSize: 2);
        Assert.Equal([generated[1], before], batch);
        Assert.Equal([before, generated[1]], lm.Generate(prompts, "Text"));
        lm.Dispose();
    }

    [Fact]
    public void EmptyPromptLongPromptAndUnknownCharactersAreHandled()
    {
        var ml = new MLContext(seed: 1);
        var options = TextTestHelpers.TinyOptions();
        options.Steps = 10;
        using var model = ml.Transforms.Text.TrainMixerLanguageModel("Text", options).Fit(TextTestHelpers.AsDataView(ml, TextTestHelpers.FortuneDocuments(30)));
        var sampling = new TextGenerationOptions { MaxNewTokens = 50, Seed = 3, Temperature = 1 };

        string fromEmpty = model.Generate("", sampling);
        Assert.True(fromEmpty.Length <= 50);
        string longPrompt = string.Concat(Enumerable.Repeat("A long prompt, longer than the context. ", 10));
        Assert.True(longPrompt.Length > 4 * options.ContextLength);
        Assert.Equal(model.Generate(longPrompt, sampling), model.Generate(longPrompt, sampling));
        string unknown = model.Generate("日本語 ☃ ", sampling);
        Assert.DoesNotContain('日', unknown);

        // Past n_ctx during generation: the window slides and generation carries on.
        var noStop = new TextGenerationOptions { MaxNewTokens = 3 * options.ContextLength, Seed = 5, Temperature = 1, StopSequences = ["zzzz"] };
        Assert.NotNull(model.Generate("The", noStop));
    }

    [Fact]
    public void StopSequencesCutTheTextBeforeTheStop()
    {
        var ml = new MLContext(seed: 1);
        var options = TextTestHelpers.TinyOptions();
        options.ContextLength = 64;
        options.Steps = 150;
        options.LearningRate = 1e-2;
        options.BatchSize = 4;
        using var model = ml.Transforms.Text.TrainMixerLanguageModel("Text", options).Fit(TextTestHelpers.AsDataView(ml, [Verse]));
        var greedy = new TextGenerationOptions { Temperature = 0, StopSequences = ["fox"] };
        Assert.Equal("the quick brown ", model.Generate("", greedy));
        Assert.Equal("the", model.Generate("", new TextGenerationOptions { Temperature = 0, MaxNewTokens = 3 }));
    }

    [Theory]
    [InlineData(MixerPrecision.Float32)]
    [InlineData(MixerPrecision.BFloat16)] // a checkpoint holding the bfloat16 weights would resume from their rounding
    public void CancelledTrainingResumesFromItsCheckpointToTheSameModelAsAnUninterruptedRun(MixerPrecision precision)
    {
        var ml = new MLContext(seed: 1);
        var data = TextTestHelpers.AsDataView(ml, TextTestHelpers.FortuneDocuments(40));
        var heldOut = TextTestHelpers.FortuneDocuments(10, skip: 200);
        string folder = TestData.NewTempFolder();
        MixerLanguageModelOptions Options()
        {
            var options = TextTestHelpers.TinyOptions();
            options.Steps = 20;
            options.Precision = precision;
            return options;
        }

        using var cancellation = new CancellationTokenSource();
        var interrupted = Options();
        interrupted.CheckpointFolder = folder;
        interrupted.CheckpointInterval = 100;
        interrupted.CancellationToken = cancellation.Token;
        var reports = new List<LanguageModelTrainingProgress>();
        interrupted.Progress = new SynchronousProgress(p => { reports.Add(p); if (p.Step == 10) cancellation.Cancel(); });
        Assert.ThrowsAny<OperationCanceledException>(() => ml.Transforms.Text.TrainMixerLanguageModel("Text", interrupted).Fit(data));
        Assert.True(File.Exists(Path.Combine(folder, "checkpoint.bin")));
        var report = Assert.Single(reports);
        Assert.True(report.TokensPerSecond > 0 && double.IsFinite(report.Loss) && report.EstimatedRemaining > TimeSpan.Zero);

        var resumed = Options();
        resumed.CheckpointFolder = folder;
        var resumedReports = new List<int>();
        resumed.Progress = new SynchronousProgress(p => resumedReports.Add(p.Step));
        using var resumedModel = ml.Transforms.Text.TrainMixerLanguageModel("Text", resumed).Fit(data);

        using var straightModel = ml.Transforms.Text.TrainMixerLanguageModel("Text", Options()).Fit(data);
        var resumedWeights = resumedModel.Model.parameters().ToArray();
        var straightWeights = straightModel.Model.parameters().ToArray();
        for (int i = 0; i < straightWeights.Length; i++)
            Assert.True(resumedWeights[i].allclose(straightWeights[i], rtol: 0, atol: 0), $"weight {i} differs from the uninterrupted run's");

        double resumedLoss = resumedModel.Evaluate(heldOut).Loss, straightLoss = straightModel.Evaluate(heldOut).Loss;
        // Only steps 11..20 ran again, and they ended where the uninterrupted run ends.
        Assert.Equal([20], resumedReports);
        Assert.True(Math.Abs(straightLoss - resumedLoss) < 1e-4, $"resumed {resumedLoss} vs uninterrupted {straightLoss}");

        var different = TextTestHelpers.TinyOptions();
        different.Width = 64;
        different.CheckpointFolder = folder;
        var error = Assert.Throws<InvalidOperationException>(() => ml.Transforms.Text.TrainMixerLanguageModel("Text", different).Fit(data));
        Assert.Contains("different model", error.Message);
    }

    [Theory]
    [InlineData(MixerLanguageModelArchitecture.MaskedMixer, false)]
    [InlineData(MixerLanguageModelArchitecture.ToeplitzMixer, false)]
    [InlineData(MixerLanguageModelArchitecture.ToeplitzMixer, true)]
    [InlineData(MixerLanguageModelArchitecture.Transformer, false)]
    [InlineData(MixerLanguageModelArchitecture.StructuredRecurrentMixer, false)]
    public void EveryArchitectureTrainsInBFloat16(MixerLanguageModelArchitecture architecture, bool toeplitzByFft)
    {
        // From FftThreshold positions on, the Toeplitz mixer convolves by FFT, and libtorch has no bfloat16 FFT on the CPU.
        using (MLNetMixers.Models.ToeplitzTokenMixing.UseFftThreshold(toeplitzByFft ? 2 : int.MaxValue))
        {
            var ml = new MLContext(seed: 1);
            var data = TextTestHelpers.AsDataView(ml, TextTestHelpers.FortuneDocuments(40));
            using var float32Model = ml.Transforms.Text.TrainMixerLanguageModel("Text", TextTestHelpers.TinyOptions(architecture)).Fit(data);
            var options = TextTestHelpers.TinyOptions(architecture);
            options.Precision = MixerPrecision.BFloat16;
            using var model = ml.Transforms.Text.TrainMixerLanguageModel("Text", options).Fit(data);

            Assert.All(model.Model.parameters(), p => Assert.Equal(ScalarType.Float32, p.dtype));
            double loss = model.Evaluate(data, "Text").Loss, float32 = float32Model.Evaluate(data, "Text").Loss;
            // bfloat16 rounds every product to 8 bits: the same run ends near, not at, the float32 run's loss.
            Assert.True(Math.Abs(loss - float32) < 0.1 * float32, $"bfloat16 loss {loss:F4} against float32's {float32:F4}");
        }
    }

    [Fact]
    public void AnUndefinedPrecisionIsRefusedNamingTheOption()
    {
        var ml = new MLContext(seed: 1);
        var options = TextTestHelpers.TinyOptions();
        options.Precision = (MixerPrecision)7;
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.Text.TrainMixerLanguageModel("Text", options));
        Assert.Equal("Precision", error.ParamName);
    }

    [Fact]
    public void CancelExecutionOnTheMLContextStopsTraining()
    {
        var ml = new MLContext(seed: 1);
        var options = TextTestHelpers.TinyOptions();
        options.Steps = 1000;
        options.LogInterval = 2;
        options.Progress = new SynchronousProgress(_ => ml.CancelExecution());
        Assert.ThrowsAny<OperationCanceledException>(() =>
            ml.Transforms.Text.TrainMixerLanguageModel("Text", options).Fit(TextTestHelpers.AsDataView(ml, TextTestHelpers.FortuneDocuments(20))));
    }

    [Fact]
    public void EvaluationReportsLossPerplexityAndBitsPerByteConsistently()
    {
        var ml = new MLContext(seed: 1);
        var options = TextTestHelpers.TinyOptions();
        options.Tokenization = TextTokenization.Bytes;
        using var model = ml.Transforms.Text.TrainMixerLanguageModel("Text", options).Fit(TextTestHelpers.AsDataView(ml, TextTestHelpers.FortuneDocuments(40)));
        var heldOut = TextTestHelpers.FortuneDocuments(10, skip: 300);
        var metrics = model.Evaluate(TextTestHelpers.AsDataView(ml, heldOut), "Text");
        long bytes = heldOut.Sum(d => (long)System.Text.Encoding.UTF8.GetByteCount(d)) + heldOut.Length;
        Assert.Equal(bytes, metrics.Tokens);                        // byte tokens: one prediction per byte (and per end of text)
        Assert.Equal(Math.Exp(metrics.Loss), metrics.Perplexity, 1e-6);
        Assert.Equal(metrics.Loss / Math.Log(2), metrics.BitsPerByte, 1e-6);
        Assert.InRange(metrics.Loss, 0.5, Math.Log(257) + 0.5);      // trained a little: well below uniform is not required, sanity only
        long characters = heldOut.Sum(d => (long)d.Length) + heldOut.Length;
        Assert.Equal(metrics.Loss * metrics.Tokens / characters, metrics.NatsPerCharacter, 1e-6);
    }

    [Fact]
    public void MicrosoftMLTokenizerModelsNeedTheirTokenizerAgainAfterLoading()
    {
        var ml = new MLContext(seed: 1);
        var options = TextTestHelpers.TinyOptions();
        options.Steps = 5;
        options.Tokenization = TextTokenization.Tokenizer;
        options.Tokenizer = TextTestHelpers.SmallBpe();
        var data = TextTestHelpers.AsDataView(ml, ["the other one is in our hut.", "there is the hut!"]);
        using var trained = ml.Transforms.Text.TrainMixerLanguageModel("Text", options).Fit(data);
        var sampling = new TextGenerationOptions { MaxNewTokens = 10, Seed = 1 };
        string before = trained.Generate("the ", sampling);

        string path = Path.Combine(TestData.NewTempFolder(), "bpe.zip");
        ml.Model.Save(trained, data.Schema, path);
        var loaded = (MixerLanguageModelTransformer)new MLContext().Model.Load(path, out _);
        Assert.Contains("WithTokenizer", Assert.Throws<InvalidOperationException>(() => loaded.Generate("the ")).Message);
        Assert.Equal(before, loaded.WithTokenizer(TextTestHelpers.SmallBpe()).Generate("the ", sampling));
        Assert.Throws<ArgumentException>(() => loaded.WithTokenizer(Microsoft.ML.Tokenizers.BpeTokenizer.Create(
            new Microsoft.ML.Tokenizers.BpeOptions([new("t", 0), new("h", 1), new("e", 2)]))));
    }

    [Fact]
    public void SchemaProblemsAreReportedBeforeTraining()
    {
        var ml = new MLContext();
        var numbers = ml.Data.LoadFromEnumerable(new[] { new { Value = 1f } });
        var estimator = ml.Transforms.Text.TrainMixerLanguageModel("Value", TextTestHelpers.TinyOptions());
        var error = Assert.ThrowsAny<ArgumentOutOfRangeException>(() => estimator.GetOutputSchema(SchemaShape.Create(numbers.Schema)));
        Assert.Contains("Value", error.Message);
        Assert.ThrowsAny<ArgumentOutOfRangeException>(() => ml.Transforms.Text.TrainMixerLanguageModel("Missing").Fit(numbers));
        Assert.Throws<ArgumentException>(() => ml.Transforms.Text.TrainMixerLanguageModel("Text", new MixerLanguageModelOptions { Width = 30, Heads = 4 }));
        var empty = TextTestHelpers.AsDataView(ml, ["", ""]);
        Assert.Contains("'Text'", Assert.Throws<ArgumentException>(() => ml.Transforms.Text.TrainMixerLanguageModel("Text", TextTestHelpers.TinyOptions()).Fit(empty)).Message);
    }

    private sealed class SynchronousProgress(Action<LanguageModelTrainingProgress> report) : IProgress<LanguageModelTrainingProgress>
    {
        public void Report(LanguageModelTrainingProgress value) => report(value);
    }
}
