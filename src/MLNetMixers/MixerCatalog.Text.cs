using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNetMixers;

namespace Microsoft.ML;

public static partial class MixerCatalog
{
    /// <summary>
    /// Trains a causal mixer language model on a text column (one document per row) and returns a transformer that
    /// continues the text of a prompt column into a generated-text column. The default is a character-level masked
    /// mixer; <see cref="SequenceTrainingOptions.Architecture"/> selects the Toeplitz mixer or a transformer baseline.
    /// </summary>
    /// <param name="catalog">The text transforms catalog.</param>
    /// <param name="textColumnName">The training text: a scalar column of String. Each row is one document.</param>
    /// <param name="options">Model, training and generation options; null uses the defaults.</param>
    /// <returns>The estimator; <c>Fit</c> trains the model.</returns>
    public static MixerLanguageModelEstimator TrainMixerLanguageModel(this TransformsCatalog.TextTransforms catalog,
        string textColumnName, MixerLanguageModelOptions? options = null)
    {
        Contracts.CheckValue(catalog, nameof(catalog));
        Contracts.CheckNonEmpty(textColumnName, nameof(textColumnName));
        return new MixerLanguageModelEstimator(CatalogUtils.GetEnvironment(catalog), textColumnName, options ?? new MixerLanguageModelOptions());
    }
}
