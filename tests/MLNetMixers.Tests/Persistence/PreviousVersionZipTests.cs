using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetMixers.Tests.Text;
using MLNetMixers.Tests.Trainers;

namespace MLNetMixers.Tests.Persistence;

/// <summary>
/// Models saved by an earlier version of the library (tests/MLNetMixers.Tests/Fixtures/*.zip, written by
/// <see cref="PreviousVersionZips.Regenerate"/>) still load and give the scores and greedy text recorded when they were
/// saved (Fixtures/expected.json). Refactoring the models must keep the saved weights' names and the zip layout readable.
/// </summary>
public class PreviousVersionZipTests
{
    public static TheoryData<string> TabularFixtures() => new(PreviousVersionZips.Tabular.Select(f => f.Name));

    public static TheoryData<string> LanguageModelFixtures() => new(PreviousVersionZips.LanguageModels.Select(f => f.Name));

    [Theory]
    [MemberData(nameof(TabularFixtures))]
    public void TabularZipPredictsTheRecordedScores(string name)
    {
        var fixture = PreviousVersionZips.Tabular.Single(f => f.Name == name);
        var expected = PreviousVersionZips.ReadExpected()[name];
        var ml = new MLContext(seed: 5);
        var model = ml.Model.Load(PreviousVersionZips.ZipPath(name), out _);

        float[][] scores = PreviousVersionZips.Scores(ml, model, fixture.Rows(ml));

        var recorded = expected.Scores!;
        Assert.Equal(recorded.Length, scores.Length);
        for (int i = 0; i < recorded.Length; i++)
        {
            Assert.Equal(recorded[i].Length, scores[i].Length);
            for (int k = 0; k < recorded[i].Length; k++)
                Assert.True(Math.Abs(scores[i][k] - recorded[i][k]) <= 1e-5 * Math.Max(1, Math.Abs(recorded[i][k])),
                            $"{name}, row {i}, score {k}: {scores[i][k]} (recorded {recorded[i][k]})");
        }
    }

    [Theory]
    [MemberData(nameof(LanguageModelFixtures))]
    public void LanguageModelZipGeneratesTheRecordedText(string name)
    {
        var expected = PreviousVersionZips.ReadExpected()[name];
        var ml = new MLContext(seed: 5);
        using var model = (MixerLanguageModelTransformer)ml.Model.Load(PreviousVersionZips.ZipPath(name), out _);

        Assert.Equal(expected.Generations, PreviousVersionZips.Generations(model));
        double loss = model.Evaluate(TextTestHelpers.AsDataView(ml, PreviousVersionZips.HeldOutFortunes()), "Text").Loss;
        Assert.True(Math.Abs(loss - expected.Loss!.Value) <= 1e-5 * Math.Max(1, expected.Loss.Value), $"{name}: held-out loss {loss} (recorded {expected.Loss})");
    }

    [Fact]
    public void EveryFixtureHasItsZipAndRecordedOutputs()
    {
        var expected = PreviousVersionZips.ReadExpected();
        foreach (string name in PreviousVersionZips.Tabular.Select(f => f.Name).Concat(PreviousVersionZips.LanguageModels.Select(f => f.Name)))
        {
            Assert.True(File.Exists(PreviousVersionZips.ZipPath(name)), $"{name}.zip is missing");
            Assert.True(new FileInfo(PreviousVersionZips.ZipPath(name)).Length < 1_000_000, $"{name}.zip is over 1 MB");
            Assert.True(expected.ContainsKey(name), $"expected.json has no entry for {name}");
        }
    }

    /// <summary>Writes the fixtures again from the current code. Run by hand only when the saved format changes on purpose.</summary>
    [Fact(Skip = "Regenerates tests/MLNetMixers.Tests/Fixtures from the current code; remove Skip locally and run it only when the zip format changes on purpose.")]
    public void RegenerateFixtures() => PreviousVersionZips.Regenerate();
}

/// <summary>The fixture models: how each was trained, what inputs it is checked on, and where its files live.</summary>
internal static class PreviousVersionZips
{
    internal sealed record TabularFixture(string Name, Func<MLContext, IEstimator<ITransformer>> Pipeline, Func<MLContext, IDataView> Data)
    {
        /// <summary>The rows each fixture is scored on: the first 16 of its dataset.</summary>
        public IDataView Rows(MLContext ml) => ml.Data.TakeRows(Data(ml), 16);
    }

    internal sealed record LanguageModelFixture(string Name, MixerLanguageModelOptions Options);

    /// <summary>What a fixture produced when it was saved.</summary>
    internal sealed class Expected
    {
        public float[][]? Scores { get; set; }
        public string[]? Generations { get; set; }
        public double? Loss { get; set; }
    }

    private static T Tiny<T>(T options, TabularArchitecture architecture = TabularArchitecture.Mixer, int heads = 1) where T : MixerTrainerOptions
    {
        options.Architecture = architecture;
        options.Width = 16;
        options.Depth = 2;
        options.MlpRatio = 2;
        options.Heads = heads;
        options.Epochs = 3;
        options.NumberOfThreads = 1;
        options.Seed = 3;
        return options;
    }

    public static readonly TabularFixture[] Tabular =
    [
        new("binary-mixer",
            ml => ml.Transforms.EncodeAsCharacters("Features", TrainerData.DiabetesFeatures)
                .Append(ml.BinaryClassification.Trainers.Mixer(Tiny(new MixerBinaryTrainer.Options()))),
            TrainerData.Diabetes),
        new("multiclass-mixer-heads",
            ml => ml.Transforms.Conversion.MapValueToKey("Label", "species")
                .Append(ml.Transforms.EncodeAsCharacters("Features", TrainerData.PenguinFeatures))
                .Append(ml.MulticlassClassification.Trainers.Mixer(Tiny(new MixerMulticlassTrainer.Options(), heads: 2))),
            TrainerData.Penguins),
        new("regression-mixer",
            ml => ml.Transforms.EncodeAsCharacters("Features", TrainerData.ConcreteFeatures)
                .Append(ml.Regression.Trainers.Mixer(Tiny(new MixerRegressionTrainer.Options()))),
            TrainerData.Concrete),
        new("multiclass-transformer",
            ml => ml.Transforms.Conversion.MapValueToKey("Label", "species")
                .Append(ml.Transforms.EncodeAsCharacters("Features", TrainerData.PenguinFeatures))
                .Append(ml.MulticlassClassification.Trainers.Mixer(Tiny(new MixerMulticlassTrainer.Options(), TabularArchitecture.Transformer, heads: 2))),
            TrainerData.Penguins),
        new("regression-mlp",
            ml => ml.Transforms.EncodeAsCharacters("Features", TrainerData.ConcreteFeatures)
                .Append(ml.Regression.Trainers.Mixer(Tiny(new MixerRegressionTrainer.Options(), TabularArchitecture.Mlp))),
            TrainerData.Concrete),
    ];

    private static MixerLanguageModelOptions TinyLanguageModel(MixerLanguageModelArchitecture architecture, int heads) => new()
    {
        Architecture = architecture,
        ContextLength = 32,
        Width = 16,
        Depth = 2,
        Heads = heads,
        MlpRatio = 2,
        BatchSize = 8,
        Steps = 150,
        WarmupSteps = 5,
        LearningRate = 3e-3,
        NumberOfThreads = 1,
        Device = MixerDevice.Cpu,
        LogInterval = 1000,
        Seed = 3,
    };

    public static readonly LanguageModelFixture[] LanguageModels =
    [
        new("lm-masked", TinyLanguageModel(MixerLanguageModelArchitecture.MaskedMixer, 1)),
        new("lm-masked-heads", TinyLanguageModel(MixerLanguageModelArchitecture.MaskedMixer, 2)),
        new("lm-toeplitz", TinyLanguageModel(MixerLanguageModelArchitecture.ToeplitzMixer, 1)),
        new("lm-toeplitz-heads", TinyLanguageModel(MixerLanguageModelArchitecture.ToeplitzMixer, 2)),
        new("lm-transformer", TinyLanguageModel(MixerLanguageModelArchitecture.Transformer, 2)),
    ];

    private static readonly string[] Prompts = ["", "The ", "A fool"];

    public static string Folder => Path.Combine(TestData.RepositoryRoot, "tests", "MLNetMixers.Tests", "Fixtures");

    public static string ZipPath(string name) => Path.Combine(Folder, name + ".zip");

    private static string ExpectedPath => Path.Combine(Folder, "expected.json");

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull };

    public static Dictionary<string, Expected> ReadExpected()
        => JsonSerializer.Deserialize<Dictionary<string, Expected>>(File.ReadAllText(ExpectedPath), Json)!;

    public static string[] TrainingFortunes() => TextTestHelpers.FortuneDocuments(60);

    public static string[] HeldOutFortunes() => TextTestHelpers.FortuneDocuments(10, skip: 60);

    /// <summary>The Score column of every row, as a vector (one value for binary and regression).</summary>
    public static float[][] Scores(MLContext ml, ITransformer model, IDataView rows)
    {
        var scored = model.Transform(rows);
        var column = scored.Schema["Score"];
        var result = new List<float[]>();
        using var cursor = scored.GetRowCursor([column]);
        if (column.Type is VectorDataViewType)
        {
            var getter = cursor.GetGetter<VBuffer<float>>(column);
            VBuffer<float> value = default;
            while (cursor.MoveNext())
            {
                getter(ref value);
                result.Add(value.DenseValues().ToArray());
            }
        }
        else
        {
            var getter = cursor.GetGetter<float>(column);
            float value = 0;
            while (cursor.MoveNext())
            {
                getter(ref value);
                result.Add([value]);
            }
        }
        return result.ToArray();
    }

    public static string[] Generations(MixerLanguageModelTransformer model)
        => Prompts.Select(p => model.Generate(p, new TextGenerationOptions { Temperature = 0, MaxNewTokens = 40 })).ToArray();

    /// <summary>Trains every fixture with the current code and writes its zip and recorded outputs.</summary>
    public static void Regenerate()
    {
        Directory.CreateDirectory(Folder);
        var expected = new Dictionary<string, Expected>();
        foreach (var fixture in Tabular)
        {
            var ml = new MLContext(seed: 1);
            var data = fixture.Data(ml);
            var model = fixture.Pipeline(ml).Fit(data);
            ml.Model.Save(model, data.Schema, ZipPath(fixture.Name));
            expected[fixture.Name] = new Expected { Scores = Scores(ml, model, fixture.Rows(ml)) };
        }
        foreach (var fixture in LanguageModels)
        {
            var ml = new MLContext(seed: 1);
            var data = TextTestHelpers.AsDataView(ml, TrainingFortunes());
            using var model = ml.Transforms.Text.TrainMixerLanguageModel("Text", fixture.Options).Fit(data);
            ml.Model.Save(model, data.Schema, ZipPath(fixture.Name));
            expected[fixture.Name] = new Expected
            {
                Generations = Generations(model),
                Loss = model.Evaluate(TextTestHelpers.AsDataView(ml, HeldOutFortunes()), "Text").Loss,
            };
        }
        File.WriteAllText(ExpectedPath, JsonSerializer.Serialize(expected, Json) + "\n");
    }
}
