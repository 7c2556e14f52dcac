using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetMixers.Memory;
using MLNetMixers.Models;
using MLNetMixers.Tests.Text;
using static TorchSharp.torch;

namespace MLNetMixers.Tests.Memory;

/// <summary>The chunk autoencoder: memorisation, the memory column, its model zip, and the decoder's causality.</summary>
public class MixerAutoencoderTests
{
    private static readonly string[] Texts = ["the cat sat on the mat.", "a dog ran in the park!", "my hat is red, not tan", "we sing at noon daily"];

    internal static MixerAutoencoderOptions Tiny(int steps = 300, MemoryDecoding decoding = MemoryDecoding.Unrolled) => new()
    {
        Decoding = decoding,
        ChunkLength = 24,
        MemoryWidth = 32,
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

    private static MixerAutoencoderTransformer Train(MLContext ml, int steps = 300, MemoryDecoding decoding = MemoryDecoding.Unrolled)
        => ml.Transforms.Text.TrainMixerAutoencoder("Text", Tiny(steps, decoding)).Fit(TextTestHelpers.AsDataView(ml, Texts));

    public static TheoryData<MemoryDecoding> Decodings() => new() { MemoryDecoding.Unrolled, MemoryDecoding.TeacherForced };

    [Theory]
    [MemberData(nameof(Decodings))]
    public void RegeneratesMemorisedTextsExactlyFromTheirMemories(MemoryDecoding decoding)
    {
        var ml = new MLContext(1);
        using var model = Train(ml, decoding: decoding);
        Assert.Equal(decoding, model.Decoding);
        // Every text starts differently only after a few characters, so the decoder cannot regenerate them without the memory.
        Assert.Equal(Texts, model.Regenerate(Texts));
        Assert.Equal(32, model.MemoryWidth);
        Assert.Equal(24, model.ChunkLength);
    }

    [Fact]
    public void AnUntrainedAutoencoderDoesNotRegenerate()
    {
        var ml = new MLContext(1);
        using var model = Train(ml, steps: 0);
        Assert.DoesNotContain(model.Regenerate(Texts), Texts.Contains);
    }

    [Theory]
    [MemberData(nameof(Decodings))]
    public void AddsTheMemoryColumnAndRoundTripsThroughTheModelZip(MemoryDecoding decoding)
    {
        var ml = new MLContext(1);
        using var model = Train(ml, steps: 20, decoding: decoding);
        var data = TextTestHelpers.AsDataView(ml, Texts);
        var transformed = model.Transform(data);
        var column = transformed.Schema["Memory"];
        Assert.Equal(32, ((VectorDataViewType)column.Type).Size);
        var memories = transformed.GetColumn<float[]>("Memory").ToArray();
        // The column encodes one row at a time, Encode a batch: equal up to float rounding.
        var batched = model.Encode(Texts);
        Assert.All(memories.SelectMany(m => m).Zip(batched), p => Assert.Equal(p.Second, p.First, 1e-4f));
        Assert.NotEqual(memories[0], memories[1]);

        string path = Path.Combine(Path.GetTempPath(), $"autoencoder-{Guid.NewGuid():N}.zip");
        try
        {
            ml.Model.Save(model, data.Schema, path);
            var loaded = ml.Model.Load(path, out _);
            var reloaded = loaded.Transform(data).GetColumn<float[]>("Memory").ToArray();
            for (int i = 0; i < memories.Length; i++)
                Assert.Equal(memories[i], reloaded[i]);
            var typed = Assert.IsType<MixerAutoencoderTransformer>(loaded);
            Assert.Equal(decoding, typed.Decoding);
            Assert.Equal(model.Regenerate(Texts), typed.Regenerate(Texts));
            typed.Dispose();
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void RejectsANonTextColumnWithASentenceNamingIt()
    {
        var ml = new MLContext(1);
        var data = ml.Data.LoadFromEnumerable(new[] { new { Text = 1f } });
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.Text.TrainMixerAutoencoder("Text", Tiny()).Fit(data));
        Assert.Contains("'Text' must be a scalar String", error.Message);
    }

    [Fact]
    public void TheLengthWarmUpCutsChunksToTheirStartAndEndsThemThere()
    {
        const int eot = 9;
        // "abcde" and "xy" as chunk rows of L = 6 (targets: the characters, the end of text, then ignored positions).
        var (_, targets) = MemoryChunks.Rows([[1, 2, 3, 4, 5], [6, 7]], 6, eot, CPU);
        var cut = MemoryChunks.Truncate(targets, 3, eot);
        Assert.Equal(new long[] { 1, 2, 3, eot, 6, 7, eot, -1 }, cut.data<long>().ToArray());
        Assert.Equal(new long[] { 3, 2 }, MemoryChunks.LastReal(cut).data<long>().ToArray());
        Assert.Same(targets, MemoryChunks.Truncate(targets, 6, eot));
        // 16 tokens at first, the whole chunk from the end of the warm-up on, never shorter on the way.
        var lengths = Enumerable.Range(0, 101).Select(i => MemoryChunks.WarmupLength(128, i / 100.0, 0.5)).ToArray();
        Assert.Equal(16, lengths[0]);
        Assert.Equal(128, lengths[50]);
        Assert.Equal(128, lengths[100]);
        Assert.True(lengths.Zip(lengths.Skip(1)).All(p => p.First <= p.Second), string.Join(",", lengths));
        Assert.Equal(12, MemoryChunks.WarmupLength(12, 0, 0.5));
    }

    [Fact]
    public void RejectsALengthWarmUpOutsideZeroToOne()
    {
        var ml = new MLContext(1);
        var options = Tiny();
        options.LengthWarmupFraction = 1.5;
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.Text.TrainMixerAutoencoder("Text", options).Fit(TextTestHelpers.AsDataView(ml, Texts)));
        Assert.Contains("LengthWarmupFraction must be between 0 and 1", error.Message);
    }

    [Fact]
    public void ShapesSavedBeforeTheDecodingOrTheSlicesWereRecordedLoadAsTheyWereTrained()
    {
        var side = TextTestHelpers.Config("masked", contextLength: 9);
        using var stream = new MemoryStream();
        using (var w = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true))
            new MemoryAutoencoderConfig(side, 16, side, MemoryDecoding.Unrolled).Save(w);
        var bytes = stream.ToArray();
        // Older formats are the same bytes without the trailing slice flag (version 2) and mode (version 1).
        var first = MemoryAutoencoderConfig.Load(new BinaryReader(new MemoryStream(bytes[..^(sizeof(int) + 1)])), withDecoding: false, withSlices: false);
        Assert.Equal(MemoryDecoding.TeacherForced, first.Decoding);
        Assert.Equal(16, first.MemoryWidth);
        var second = MemoryAutoencoderConfig.Load(new BinaryReader(new MemoryStream(bytes[..^1])), withDecoding: true, withSlices: false);
        Assert.Equal((MemoryDecoding.Unrolled, false), (second.Decoding, second.CyclicSlices));
        var current = MemoryAutoencoderConfig.Load(new BinaryReader(new MemoryStream(bytes)), withDecoding: true, withSlices: true);
        Assert.Equal((MemoryDecoding.Unrolled, true), (current.Decoding, current.CyclicSlices));
        Assert.Equal(side, current.Decoder);
        using var old = new MemoryAutoencoder(second);
        Assert.Equal(16, old.Decoder.SliceWidth);
        using var sliced = new MemoryAutoencoder(current);
        Assert.Equal(8, sliced.Decoder.SliceWidth);
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void EachUnrolledPositionReadsItsOwnCyclicSliceOfTheMemory(string kind)
    {
        using var decoder = SmallDecoder(kind, MemoryDecoding.Unrolled);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var memory = randn([2, 6], generator: new Generator(9));
        var tokens = zeros([2, 13], ScalarType.Int64);
        var baseline = decoder.forward(memory, tokens);
        var changed = memory.clone();
        changed[.., 4] += 1;
        var logits = decoder.forward(changed, tokens);
        // Position i reads m[i mod 6 .. i mod 6 + 3): positions 0 and 1 never see m[4]; position 2 is the first that does.
        Assert.True(logits[.., ..2].allclose(baseline[.., ..2], rtol: 0, atol: 1e-6), $"{kind}: positions 0-1 do not read m[4]");
        Assert.False(logits[.., 2].allclose(baseline[.., 2], rtol: 0, atol: 1e-5), $"{kind}: position 2 reads m[4]");
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void TheUnrolledDecoderReadsTheMemoryAtEveryPositionAndNoToken(string kind)
    {
        using var decoder = SmallDecoder(kind, MemoryDecoding.Unrolled);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var generator = new Generator(9);
        var memory = randn([2, 6], generator: generator);
        var tokens = randint(0, 11, [2, 13], dtype: ScalarType.Int64, generator: generator);
        var baseline = decoder.forward(memory, tokens);
        Assert.Equal(new long[] { 2, 13, 11 }, baseline.shape);
        Assert.True(decoder.forward(memory, (tokens + 1) % 11).allclose(baseline, rtol: 0, atol: 1e-6), $"{kind}: the unrolled decoder must not read tokens");
        var otherMemory = decoder.forward(memory + 1, tokens);
        foreach (int position in new[] { 0, 6, 12 })
            Assert.False(otherMemory[.., position].allclose(baseline[.., position], rtol: 0, atol: 1e-5), $"{kind}: position {position} should read the memory");
        // Position embeddings make the positions differ although each reads the same memory.
        Assert.False(baseline[.., 0].allclose(baseline[.., 12], rtol: 0, atol: 1e-5), $"{kind}: positions should differ");
    }

    /// <summary>A 13-position decoder of 6-number memories over 11 tokens, initialised and in evaluation mode, on one thread.</summary>
    private static MemoryDecoder SmallDecoder(string kind, MemoryDecoding decoding)
    {
        set_num_threads(1);
        var decoder = new MemoryDecoder(memoryWidth: 6, TextTestHelpers.Config(kind, contextLength: 13), decoding);
        decoder.Initialize(5);
        decoder.eval();
        return decoder;
    }

    public static TheoryData<string> Kinds() => new() { "masked", "toeplitz", "transformer", "srm" };

    [Theory]
    [MemberData(nameof(Kinds))]
    public void TheDecoderIsCausalAndReadsTheMemory(string kind)
    {
        using var decoder = SmallDecoder(kind, MemoryDecoding.TeacherForced);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var generator = new Generator(9);
        var memory = randn([2, 6], generator: generator);
        var tokens = randint(0, 11, [2, 13], dtype: ScalarType.Int64, generator: generator);
        var baseline = decoder.forward(memory, tokens);
        Assert.Equal(new long[] { 2, 13, 11 }, baseline.shape);
        foreach (int changed in new[] { 1, 6, 12 })
        {
            // tokens[:, j] is c_{j-1}: decoder position j reads it, so positions before j must not change.
            var altered = tokens.clone();
            altered[.., changed] = (altered[.., changed] + 1) % 11;
            var logits = decoder.forward(memory, altered);
            Assert.True(logits[.., ..changed].allclose(baseline[.., ..changed], rtol: 0, atol: 1e-5), $"{kind}: positions before {changed} changed");
            Assert.False(logits[.., changed].allclose(baseline[.., changed], rtol: 0, atol: 1e-5), $"{kind}: position {changed} should read its token");
        }
        var otherMemory = decoder.forward(memory + 1, tokens);
        Assert.False(otherMemory[.., 0].allclose(baseline[.., 0], rtol: 0, atol: 1e-5), $"{kind}: the first position should read the memory");
    }
}
