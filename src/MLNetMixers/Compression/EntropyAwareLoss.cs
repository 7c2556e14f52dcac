using MLNetMixers.Models;
using MLNetMixers.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetMixers.Compression;

/// <summary>
/// Entropy-aware training (Badger and Neligeorge, "Know Your Limits"): the per-token clipping mask. Each target's
/// cross-entropy ℓ_t counts only where it is above the estimate Ĥ_t of that token's entropy, here the per-token loss of
/// another trained model (the estimator) on the same window; tokens already predicted as well as the estimate says they
/// can be contribute no gradient, so the model approaches the estimate from above instead of memorising below it.
/// </summary>
/// <remarks>
/// The reference code divides by the number of kept tokens; this sum is divided by all tokens, as the plain loss is,
/// because the shared training step fixes its denominator before the shards run: the same direction, a step shorter by
/// the fraction kept.
/// </remarks>
internal static class EntropyAwareLoss
{
    /// <summary>The summed masked loss of <paramref name="model"/> on (x, y), with Ĥ from <paramref name="estimator"/> (no gradient).</summary>
    public static Func<Tensor, Tensor, Tensor> Create(LanguageModel model, LanguageModel estimator, int vocabularySize) => (x, y) =>
    {
        var targets = y.reshape(-1);
        Tensor estimate;
        using (no_grad())
            estimate = nn.functional.cross_entropy(estimator.forward(x).to(ScalarType.Float32).reshape(-1, vocabularySize), targets, reduction: nn.Reduction.None);
        var losses = nn.functional.cross_entropy(model.forward(x).to(ScalarType.Float32).reshape(-1, vocabularySize), targets, reduction: nn.Reduction.None);
        return Masked(losses, estimate);
    };

    /// <summary>Σ ℓ_t · [ℓ_t &gt; Ĥ_t].</summary>
    internal static Tensor Masked(Tensor losses, Tensor estimate) => (losses * (losses.detach() > estimate).to(losses.dtype)).sum();

    /// <summary>The estimator's tokenizer, checked against the options: the estimate must be over the very same tokens.</summary>
    public static TextTokenizer TokenizerOf(MixerLanguageModelTransformer estimator, TextTokenization tokenization)
    {
        if (estimator.Tokenizer.Kind != tokenization)
            throw new ArgumentException(
                $"The EntropyEstimator uses {estimator.Tokenizer.Kind} tokenization but Tokenization is {tokenization}: the entropy estimate must be over the same tokens.",
                nameof(MixerLanguageModelOptions.EntropyEstimator));
        if (estimator.Tokenizer is DetachedTokenizer)
            throw new ArgumentException("The EntropyEstimator's tokenizer is detached: call WithTokenizer on it first.", nameof(MixerLanguageModelOptions.EntropyEstimator));
        return estimator.Tokenizer;
    }

    /// <summary>The estimator's network, which must run where the trained model does.</summary>
    public static LanguageModel ModelOn(MixerLanguageModelTransformer estimator, Device device)
        => estimator.Device.type == device.type && estimator.Device.index == device.index
            ? estimator.Model
            : throw new ArgumentException($"The EntropyEstimator runs on {estimator.Device} but the model trains on {device}: load or train both on the same device.",
                                          nameof(MixerLanguageModelOptions.EntropyEstimator));
}
