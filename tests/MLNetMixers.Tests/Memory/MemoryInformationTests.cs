using Microsoft.ML;
using MLNetMixers.Tests.Text;

namespace MLNetMixers.Tests.Memory;

/// <summary>The information measurement: it can fail (memories unrelated to their chunks), and it can tell a real memory.</summary>
public class MemoryInformationTests
{
    private sealed class NoisyRow
    {
        public string Text { get; set; } = "";

        [Microsoft.ML.Data.VectorType(32)]
        public float[] Noise { get; set; } = [];
    }

    /// <summary>The chunks with a random vector each, drawn independently of the chunk.</summary>
    private static IDataView WithNoise(MLContext ml, string[] chunks, int seed)
    {
        var random = new Random(seed);
        return ml.Data.LoadFromEnumerable(chunks.Select(c => new NoisyRow
        {
            Text = c,
            Noise = Enumerable.Range(0, 32).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray(),
        }).ToList());
    }

    /// <summary>Chunks of random letters: nothing but a memory lets a decoder regenerate them beyond chance.</summary>
    private static string[] RandomChunks(int count, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => new string(Enumerable.Range(0, 6).Select(_ => "abcd"[random.Next(4)]).ToArray())).ToArray();
    }

    private static MemoryInformationOptions Measurement(MemoryDecoding decoding = MemoryDecoding.TeacherForced) => new()
    {
        Decoding = decoding,
        ChunkLength = 8,
        Width = 32,
        Depth = 2,
        Steps = 400,
        BatchSize = 32,
        WarmupSteps = 10,
        LearningRate = 3e-3,
        NumberOfThreads = 1,
        Device = MixerDevice.Cpu,
        Seed = 2,
    };

    [Fact]
    public void MemoriesUnrelatedToTheirChunksTellNothingWhileAutoencoderMemoriesTellMost()
    {
        var ml = new MLContext(1);
        var train = WithNoise(ml, RandomChunks(600, seed: 1), seed: 3);
        var heldOut = WithNoise(ml, RandomChunks(200, seed: 2), seed: 4);
        var encoderOptions = MixerAutoencoderTests.Tiny(steps: 1000, MemoryDecoding.TeacherForced);
        encoderOptions.ChunkLength = 8;
        encoderOptions.BatchSize = 32;
        using var trained = ml.Transforms.Text.TrainMixerAutoencoder("Text", encoderOptions).Fit(train);
        // An "encoder" whose memories are noise drawn independently of the chunk: the measurement must not credit it.
        // (An untrained encoder is not such a control: its memories are a random but deterministic function of the
        // chunk, and a decoder learns to read part of them; benchmarks/results/MemoryInformation.md.)
        var noise = ml.Transforms.CopyColumns("Memory", "Noise").Fit(train);

        var none = ml.Transforms.Text.MeasureMemoryInformation(train, heldOut, null, Measurement());
        var random = ml.Transforms.Text.MeasureMemoryInformation(train, heldOut, noise, Measurement());
        var autoencoder = ml.Transforms.Text.MeasureMemoryInformation(train, heldOut, trained, Measurement());

        // Without a memory only the end marker is predictable: about (6 · 1/4 + 1) / 7 of the tokens.
        Assert.InRange(none.TokenAccuracy, 0.25, 0.45);
        Assert.Equal(0, none.MemoryWidth);
        Assert.Equal(32, autoencoder.MemoryWidth);
        Assert.Equal(200, autoencoder.HeldOutChunks);
        Assert.True(random.TokenAccuracy < none.TokenAccuracy + 0.05,
                    $"noise memories {random.TokenAccuracy:P1} vs none {none.TokenAccuracy:P1}: the measurement should not credit memories unrelated to the chunk");
        Assert.True(autoencoder.TokenAccuracy > none.TokenAccuracy + 0.4,
                    $"autoencoder memories {autoencoder.TokenAccuracy:P1} vs none {none.TokenAccuracy:P1}");
        Assert.True(autoencoder.Loss < none.Loss);
    }

    [Fact]
    public void TheUnrolledMeasurementCreditsAutoencoderMemoriesAndNotMemoriesUnrelatedToTheChunk()
    {
        var ml = new MLContext(1);
        var train = WithNoise(ml, RandomChunks(600, seed: 1), seed: 3);
        var heldOut = WithNoise(ml, RandomChunks(200, seed: 2), seed: 4);
        var encoderOptions = MixerAutoencoderTests.Tiny(steps: 1000, MemoryDecoding.Unrolled);
        encoderOptions.ChunkLength = 8;
        encoderOptions.BatchSize = 32;
        using var trained = ml.Transforms.Text.TrainMixerAutoencoder("Text", encoderOptions).Fit(train);
        // Noise, not an untrained encoder, is the control that must score as no memory: an untrained encoder's memory is a
        // deterministic function of a 6-letter chunk and the unrolled decoder reads part of it too (58 % against 37 % here).
        var noise = ml.Transforms.CopyColumns("Memory", "Noise").Fit(train);

        var none = ml.Transforms.Text.MeasureMemoryInformation(train, heldOut, null, Measurement(MemoryDecoding.Unrolled));
        var random = ml.Transforms.Text.MeasureMemoryInformation(train, heldOut, noise, Measurement(MemoryDecoding.Unrolled));
        var autoencoder = ml.Transforms.Text.MeasureMemoryInformation(train, heldOut, trained, Measurement(MemoryDecoding.Unrolled));

        // With no memory and no tokens the decoder can learn only each position's frequencies: 1/4 per letter, the end marker surely.
        Assert.InRange(none.TokenAccuracy, 0.25, 0.45);
        Assert.True(random.TokenAccuracy < none.TokenAccuracy + 0.05,
                    $"noise memories {random.TokenAccuracy:P1} vs none {none.TokenAccuracy:P1}: the measurement should not credit memories unrelated to the chunk");
        Assert.True(autoencoder.TokenAccuracy > none.TokenAccuracy + 0.4,
                    $"autoencoder memories {autoencoder.TokenAccuracy:P1} vs none {none.TokenAccuracy:P1}");
        Assert.True(autoencoder.Loss < none.Loss);
    }
}
