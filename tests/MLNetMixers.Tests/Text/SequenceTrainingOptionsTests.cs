using Microsoft.ML;
namespace MLNetMixers.Tests.Text;

/// <summary>
/// The five sequence models share their training knobs through <see cref="SequenceTrainingOptions"/>: each must check
/// them with the same sentence naming the knob, before any training starts.
/// </summary>
public class SequenceTrainingOptionsTests
{
    private sealed class PairRow
    {
        public string Summary { get; set; } = "";
        public string Description { get; set; } = "";
    }

    private static readonly string[] Texts = ["abc abd", "abd abc", "bca bcd", "cab cad"];

    /// <summary>Builds and fits (or measures) one model with the shared knobs set by <paramref name="set"/>.</summary>
    private static void Train(string model, Action<SequenceTrainingOptions> set)
    {
        var ml = new MLContext(seed: 1);
        var text = TextTestHelpers.AsDataView(ml, Texts);
        switch (model)
        {
            case "language model":
                var lm = new MixerLanguageModelOptions();
                set(lm);
                ml.Transforms.Text.TrainMixerLanguageModel("Text", lm).Fit(text);
                break;
            case "retrieval":
                var retrieval = new MixerRetrievalOptions();
                set(retrieval);
                var pairs = ml.Data.LoadFromEnumerable(Texts.Select(t => new PairRow { Summary = t, Description = t + " more" }).ToList());
                ml.Transforms.Text.TrainMixerRetrieval(nameof(PairRow.Summary), nameof(PairRow.Description), retrieval).Fit(pairs);
                break;
            case "autoencoder":
                var autoencoder = new MixerAutoencoderOptions();
                set(autoencoder);
                ml.Transforms.Text.TrainMixerAutoencoder("Text", autoencoder).Fit(text);
                break;
            case "memory language model":
                var memory = new MixerMemoryLanguageModelOptions();
                set(memory);
                ml.Transforms.Text.TrainMixerMemoryLanguageModel("Text", memory).Fit(text);
                break;
            default:
                var measurement = new MemoryInformationOptions();
                set(measurement);
                ml.Transforms.Text.MeasureMemoryInformation(text, text, null, measurement);
                break;
        }
    }

    public static TheoryData<string> Models => new() { "language model", "retrieval", "autoencoder", "memory language model", "memory information" };

    [Theory]
    [MemberData(nameof(Models))]
    public void Every_sequence_model_rejects_a_bad_shared_knob_by_name_before_training(string model)
    {
        // Knobs that no model checked before they were shared, and ones each checked in its own words.
        (Action<SequenceTrainingOptions> Set, string Name)[] bad =
        [
            (o => o.MinLearningRateRatio = 1.5, nameof(SequenceTrainingOptions.MinLearningRateRatio)),
            (o => o.GradientClipNorm = -1, nameof(SequenceTrainingOptions.GradientClipNorm)),
            (o => o.WeightDecay = double.NaN, nameof(SequenceTrainingOptions.WeightDecay)),
            (o => o.NumberOfThreads = 0, nameof(SequenceTrainingOptions.NumberOfThreads)),
            (o => o.LearningRate = 0, nameof(SequenceTrainingOptions.LearningRate)),
            (o => o.Heads = 3, nameof(SequenceTrainingOptions.Heads)),
            (o => o.MaxTrainingTime = TimeSpan.Zero, nameof(SequenceTrainingOptions.MaxTrainingTime)),
        ];
        foreach (var (set, name) in bad)
        {
            var error = Assert.ThrowsAny<ArgumentException>(() => Train(model, o => { o.Steps = 1; o.NumberOfThreads = 1; set(o); }));
            Assert.Equal(name, error.ParamName);
            Assert.Contains(name, error.Message);
        }
    }

    [Fact]
    // The benchmarks measured each model with these defaults; the shared base must not have flattened them.
    public void Each_model_keeps_its_own_defaults_where_they_differ_from_the_shared_ones()
    {
        var shared = new MixerAutoencoderOptions();
        var lm = new MixerLanguageModelOptions();
        var retrieval = new MixerRetrievalOptions();
        // The language model is deeper and warms up longer; retrieval towers are wider, with bigger batches and a higher rate.
        Assert.True(lm.Depth > shared.Depth && lm.WarmupSteps > shared.WarmupSteps);
        Assert.True(retrieval.Width > shared.Width && retrieval.BatchSize > shared.BatchSize && retrieval.LearningRate > shared.LearningRate);
        Assert.True(new MixerMemoryLanguageModelOptions().BatchSize < shared.BatchSize);
        Assert.True(new MemoryInformationOptions().Steps < shared.Steps);
    }
}
