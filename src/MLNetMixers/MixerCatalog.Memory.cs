using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNetMixers;
using MLNetMixers.Memory;

namespace Microsoft.ML;

public static partial class MixerCatalog
{
    /// <summary>
    /// Trains a chunk autoencoder (Badger, "Language Model Memory and Memory Models for Language"): each chunk of
    /// <see cref="MixerAutoencoderOptions.ChunkLength"/> tokens becomes one memory vector of
    /// <see cref="MixerAutoencoderOptions.MemoryWidth"/> (a causal encoder's last hidden state through a bottleneck) and a
    /// causal decoder reading that memory as a prepended pseudo-token regenerates the chunk. The transformer adds the
    /// memory column.
    /// </summary>
    /// <param name="catalog">The text transforms catalog.</param>
    /// <param name="inputColumnName">Scalar String column; each row is cut into chunks for training.</param>
    /// <param name="options">Chunk, memory, model and training options; null uses the defaults.</param>
    public static MixerAutoencoderEstimator TrainMixerAutoencoder(this TransformsCatalog.TextTransforms catalog,
        string inputColumnName = "Text", MixerAutoencoderOptions? options = null)
    {
        Contracts.CheckValue(catalog, nameof(catalog));
        return new MixerAutoencoderEstimator(CatalogUtils.GetEnvironment(catalog), inputColumnName, options ?? new MixerAutoencoderOptions());
    }

    /// <summary>
    /// Measures how much of its input an embedding keeps (the paper's information measurement): the encoder is frozen,
    /// a fresh causal decoder reading each chunk's memory as a prepended pseudo-token is trained for a fixed budget to
    /// regenerate the chunks of <paramref name="training"/>, and its token accuracy and loss on <paramref name="heldOut"/>
    /// are returned. A null encoder gives the control: the same decoder with no memory.
    /// </summary>
    /// <param name="catalog">The text transforms catalog.</param>
    /// <param name="training">Chunks to train the decoder on (one per row).</param>
    /// <param name="heldOut">Chunks to score.</param>
    /// <param name="encoder">Adds the vector column <see cref="MemoryInformationOptions.MemoryColumnName"/> (an autoencoder, a language model's
    /// <c>MixerEmbedding</c>, any transformer); null for the no-memory control.</param>
    /// <param name="options">Chunk length and the decoder's shape and budget; null uses the defaults.</param>
    public static MemoryInformationResult MeasureMemoryInformation(this TransformsCatalog.TextTransforms catalog,
        IDataView training, IDataView heldOut, ITransformer? encoder, MemoryInformationOptions? options = null)
    {
        Contracts.CheckValue(catalog, nameof(catalog));
        return MemoryInformation.Measure(CatalogUtils.GetEnvironment(catalog), training, heldOut, encoder, options ?? new MemoryInformationOptions());
    }

    /// <summary>
    /// Trains a memory language model (Badger, "Language Model Memory and Memory Models for Language"): documents are
    /// cut into chunks of <see cref="MixerMemoryLanguageModelOptions.ChunkLength"/> tokens, each chunk is remembered as one
    /// vector (an encoder's last hidden state through a bottleneck), and a causal decoder predicts each chunk reading the
    /// memories of the chunks before it as prepended pseudo-tokens. Causal, copy or combined objectives; optionally a
    /// trained autoencoder's encoder, frozen, and the paper's copy-then-objective curriculum.
    /// </summary>
    /// <param name="catalog">The text transforms catalog.</param>
    /// <param name="inputColumnName">Scalar String column, one document per row.</param>
    /// <param name="options">Chunk, memory, model, objective and training options; null uses the defaults.</param>
    public static MixerMemoryLanguageModelEstimator TrainMixerMemoryLanguageModel(this TransformsCatalog.TextTransforms catalog,
        string inputColumnName = "Text", MixerMemoryLanguageModelOptions? options = null)
    {
        Contracts.CheckValue(catalog, nameof(catalog));
        return new MixerMemoryLanguageModelEstimator(CatalogUtils.GetEnvironment(catalog), inputColumnName, options ?? new MixerMemoryLanguageModelOptions());
    }
}
