using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNetMixers;

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
}
