using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNetMixers;

namespace Microsoft.ML;

public static partial class MixerCatalog
{
    /// <summary>
    /// Trains a retriever on (query, document) pairs: InfoNCE over cosine similarity with k candidates per query
    /// (Badger, "Masked Mixers for Language Generation and Retrieval"), from a trained language model
    /// (<see cref="MixerRetrievalOptions.LanguageModel"/>) or from scratch. The transformer adds a unit-length query
    /// embedding column and a document embedding column, and builds search indexes.
    /// </summary>
    /// <param name="catalog">The text transforms catalog.</param>
    /// <param name="queryColumnName">Scalar String column of queries (e.g. a summary).</param>
    /// <param name="documentColumnName">Scalar String column of the documents each query should find.</param>
    /// <param name="options">Towers, objective and training options; null uses the defaults.</param>
    public static MixerRetrievalEstimator TrainMixerRetrieval(this TransformsCatalog.TextTransforms catalog,
        string queryColumnName, string documentColumnName, MixerRetrievalOptions? options = null)
    {
        Contracts.CheckValue(catalog, nameof(catalog));
        return new MixerRetrievalEstimator(CatalogUtils.GetEnvironment(catalog), queryColumnName, documentColumnName, options ?? new MixerRetrievalOptions());
    }

    /// <summary>
    /// Embeds a text column with a trained language model (every architecture): its final hidden states pooled
    /// (<paramref name="pooling"/>) and normalised to unit length, as a <c>Vector&lt;Single&gt;</c> column.
    /// </summary>
    /// <param name="catalog">The text transforms catalog.</param>
    /// <param name="languageModel">A model from <c>TrainMixerLanguageModel</c> (its weights are copied).</param>
    /// <param name="outputColumnName">The embedding column to add.</param>
    /// <param name="inputColumnName">Scalar String column to embed.</param>
    /// <param name="pooling">How positions are pooled; the default, the mean over the real tokens, retrieved best (benchmarks/results/Retrieval.md).</param>
    public static MixerEmbeddingEstimator MixerEmbedding(this TransformsCatalog.TextTransforms catalog, MixerLanguageModelTransformer languageModel,
        string outputColumnName = "Embedding", string inputColumnName = "Text", EmbeddingPooling pooling = EmbeddingPooling.Mean)
    {
        Contracts.CheckValue(catalog, nameof(catalog));
        return new MixerEmbeddingEstimator(CatalogUtils.GetEnvironment(catalog), languageModel, outputColumnName, inputColumnName, pooling);
    }
}
