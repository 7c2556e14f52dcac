using Microsoft.ML;
using MLNetMixers.Compression;
using MLNetMixers.Models;
using MLNetMixers.Tests.Text;
using MLNetMixers.Text;
using static TorchSharp.torch;

namespace MLNetMixers.Tests.Compression;

/// <summary>Entropy-aware training: the per-token clipping mask and its estimator option.</summary>
public class EntropyAwareTrainingTests
{
    public EntropyAwareTrainingTests() => set_num_threads(1);

    [Fact]
    public void MaskKeepsOnlyTokensAboveTheirEstimate()
    {
        using var scope = NewDisposeScope();
        var losses = tensor(new float[] { 1, 2, 3, 0.5f }, requires_grad: true);
        var masked = EntropyAwareLoss.Masked(losses, tensor(new float[] { 1.5f, 1.5f, 5, 0.5f }));
        Assert.Equal(2f, masked.item<float>());
        masked.backward();
        Assert.Equal(new float[] { 0, 1, 0, 0 }, losses.grad!.data<float>().ToArray());
    }

    private static MixerLanguageModelOptions Options()
    {
        var options = TextTestHelpers.TinyOptions();
        options.WeightDecay = 0; // with no gradient, AdamW then leaves every weight as it was
        options.Steps = 8;
        return options;
    }

    [Fact]
    public void AnEstimateAboveEveryLossLeavesTheModelUntrained_AndNoEstimatorTrains()
    {
        var ml = new MLContext(1);
        var data = TextTestHelpers.AsDataView(ml, TextTestHelpers.FortuneDocuments(20));
        using var plain = ml.Transforms.Text.TrainMixerLanguageModel("Text", Options()).Fit(data);

        // An estimator sure of the unknown token everywhere: ~100 nats on every real target, above any loss the model has.
        var tokenizer = (CharacterTokenizer)plain.Tokenizer;
        var sure = new LanguageModel(new LanguageModelConfig(MixerLanguageModelArchitecture.MaskedMixer, tokenizer.VocabularySize, 32, 8, 1, 1, 2, 0));
        sure.Initialize(1);
        using (no_grad())
        {
            foreach (var (name, p) in sure.named_parameters().Where(p => p.name.StartsWith("head.", StringComparison.Ordinal)))
                p.zero_();
            sure.named_parameters().Single(p => p.name == "head.bias").parameter[CharacterTokenizer.Unknown] = 100f;
        }
        using var estimator = new MixerLanguageModelTransformer(ml, sure, tokenizer, CPU, "Text", "Out", new TextGenerationOptions());
        var options = Options();
        options.EntropyEstimator = estimator;
        using var masked = ml.Transforms.Text.TrainMixerLanguageModel("Text", options).Fit(data);

        var initial = new LanguageModel(masked.Model.Config);
        initial.Initialize(options.Seed);
        var start = initial.state_dict();
        Assert.All(masked.Model.state_dict(), p => Assert.True(p.Value.allclose(start[p.Key], rtol: 0, atol: 0), $"{p.Key} changed though every token was masked"));
        Assert.Contains(plain.Model.state_dict(), p => !p.Value.allclose(start[p.Key], rtol: 0, atol: 0));
    }

    [Fact]
    public void TrainingWithAnEstimatorLearnsAndUsesItsTokenizer()
    {
        var ml = new MLContext(1);
        var data = TextTestHelpers.AsDataView(ml, TextTestHelpers.FortuneDocuments(20));
        using var estimator = ml.Transforms.Text.TrainMixerLanguageModel("Text", Options()).Fit(data);
        var options = Options();
        options.Steps = 30;
        options.EntropyEstimator = estimator;
        using var model = ml.Transforms.Text.TrainMixerLanguageModel("Text", options).Fit(data);
        Assert.Same(estimator.Tokenizer, model.Tokenizer);
        var fresh = new LanguageModel(model.Model.Config);
        fresh.Initialize(options.Seed);
        using var untrained = new MixerLanguageModelTransformer(ml, fresh, model.Tokenizer, CPU, "Text", "Out", new TextGenerationOptions());
        var heldOut = TextTestHelpers.FortuneDocuments(10, skip: 100);
        Assert.True(model.Evaluate(heldOut).Loss < untrained.Evaluate(heldOut).Loss - 0.3);

        var bytes = Options();
        bytes.Tokenization = TextTokenization.Bytes;
        bytes.EntropyEstimator = estimator;
        Assert.Contains("same tokens", Assert.Throws<ArgumentException>(() => ml.Transforms.Text.TrainMixerLanguageModel("Text", bytes).Fit(data)).Message);
    }
}
