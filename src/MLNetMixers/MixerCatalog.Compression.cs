using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNetMixers;

namespace Microsoft.ML;

public static partial class MixerCatalog
{
    /// <summary>
    /// Adds the bits each token of a text column costs under a trained mixer language model (a variable-length Single
    /// vector, −log2 p per token, each row read as a new document) and the row's bits per UTF-8 byte: where the model
    /// is surprised, what a model-driven compressor would spend.
    /// </summary>
    /// <param name="catalog">The text transforms catalog.</param>
    /// <param name="languageModel">A trained language model (<c>TrainMixerLanguageModel</c>).</param>
    /// <param name="inputColumnName">The text: a scalar String column.</param>
    /// <param name="outputColumnName">The vector column of bits per token.</param>
    /// <param name="bitsPerByteColumnName">The scalar column of bits per byte.</param>
    public static MixerSurprisalEstimator ComputeSurprisal(this TransformsCatalog.TextTransforms catalog, MixerLanguageModelTransformer languageModel,
        string inputColumnName, string outputColumnName = "Surprisal", string bitsPerByteColumnName = "BitsPerByte")
    {
        Contracts.CheckValue(catalog, nameof(catalog));
        Contracts.CheckValue(languageModel, nameof(languageModel));
        Contracts.CheckNonEmpty(inputColumnName, nameof(inputColumnName));
        Contracts.CheckNonEmpty(outputColumnName, nameof(outputColumnName));
        Contracts.CheckNonEmpty(bitsPerByteColumnName, nameof(bitsPerByteColumnName));
        if (outputColumnName == bitsPerByteColumnName)
            throw new ArgumentException($"The surprisal and bits-per-byte columns must have different names; both are '{outputColumnName}'.", nameof(bitsPerByteColumnName));
        var env = CatalogUtils.GetEnvironment(catalog);
        return new MixerSurprisalEstimator(env, new MixerSurprisalTransformer(env, languageModel, inputColumnName, outputColumnName, bitsPerByteColumnName));
    }
}
