using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetMixers.Tests.Reliability;

/// <summary>
/// The public estimators reject a wrong schema in GetOutputSchema, before any training, with a message naming the
/// column and the type it needs (and, from Fit, without a single training step).
/// </summary>
public sealed class SchemaErrorTests
{
    private sealed class Row
    {
        public float A { get; set; }
        public string Text { get; set; } = "";
        public string Label { get; set; } = "";
        public float Number { get; set; }
        public bool Flag { get; set; }
    }

    private static readonly MLContext Ml = new(seed: 1);
    private static readonly IDataView Data = Ml.Data.LoadFromEnumerable(Enumerable.Range(0, 8).Select(i => new Row { A = i, Text = "t" + i, Label = i % 2 == 0 ? "x" : "y", Number = i, Flag = i % 2 == 0 }));

    public static TheoryData<string, string, string[]> Cases => new()
    {
        { "binary, text label", "Label", ["label column 'Label'", "expected Boolean (or Single/Double with 0 for false)", "got String"] },
        { "regression, text label", "Label", ["label column 'Label'", "expected Single or Double", "got String"] },
        { "multiclass, bool label", "Flag", ["label column 'Flag'", "expected a key", "got Boolean"] },
        { "binary, absent features", "Flag", ["feature column 'Missing'"] },
        { "language model, numeric text column", "Number", ["text column 'Number'", "expected String", "got Single"] },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Wrong_schema_names_the_column_and_the_expected_type_before_training(string estimator, string labelColumn, string[] expected)
    {
        int steps = 0;
        var progress = new Progress(() => steps++);
        var features = Ml.Transforms.EncodeAsCharacters("Features", nameof(Row.A)).Fit(Data).Transform(Data);
        IEstimator<ITransformer> subject = estimator switch
        {
            "binary, text label" => Ml.BinaryClassification.Trainers.Mixer(new MixerBinaryTrainer.Options { LabelColumnName = labelColumn, Progress = progress }),
            "regression, text label" => Ml.Regression.Trainers.Mixer(new MixerRegressionTrainer.Options { LabelColumnName = labelColumn, Progress = progress }),
            "multiclass, bool label" => Ml.MulticlassClassification.Trainers.Mixer(new MixerMulticlassTrainer.Options { LabelColumnName = labelColumn, Progress = progress }),
            "binary, absent features" => Ml.BinaryClassification.Trainers.Mixer(new MixerBinaryTrainer.Options { LabelColumnName = labelColumn, FeatureColumnName = "Missing", Progress = progress }),
            _ => Ml.Transforms.Text.TrainMixerLanguageModel(labelColumn, new MixerLanguageModelOptions { Steps = 1 }),
        };
        var fromSchema = Assert.ThrowsAny<ArgumentException>(() => subject.GetOutputSchema(SchemaShape.Create(features.Schema)));
        var fromFit = Assert.ThrowsAny<ArgumentException>(() => subject.Fit(features));
        foreach (var e in new[] { fromSchema, fromFit })
        {
            foreach (string text in expected)
                Assert.Contains(text, e.Message);
        }
        Assert.Equal(0, steps);
    }

    [Fact]
    public void The_encoder_names_an_unsupported_input_column_and_the_supported_types()
    {
        // Words: a vector of unknown size, which has no fixed field layout.
        var words = Ml.Transforms.Text.TokenizeIntoWords("Words", nameof(Row.Text)).Fit(Data).Transform(Data);
        var e = Assert.ThrowsAny<ArgumentException>(() => Ml.Transforms.EncodeAsCharacters("Features", "Words").GetOutputSchema(SchemaShape.Create(words.Schema)));
        Assert.Contains("input column 'Words'", e.Message);
        Assert.Contains("expected Single, Double, signed or unsigned integer, Boolean, Text", e.Message);
    }

    private sealed class Progress(Action onReport) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => onReport();
    }
}
