using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetMixers.Models;

/// <summary>
/// A network over an encoded row: token ids [batch, T] -> outputs [batch, outputs].
/// Every tabular architecture (the mixer and its baselines) splits its pass at the token embeddings,
/// because attribution measures gradients there and integrated gradients walks a path there.
/// </summary>
internal abstract class TabularModel : nn.Module<Tensor, Tensor>
{
    protected TabularModel(string name) : base(name)
    {
    }

    /// <summary>Token embeddings: [batch, T] int64 -> [batch, T, d].</summary>
    public abstract Tensor Embed(Tensor tokens);

    /// <summary>The rest of the network: [batch, T, d] -> [batch, outputs].</summary>
    public abstract Tensor ForwardFromEmbeddings(Tensor embedded);

    public override Tensor forward(Tensor tokens) => ForwardFromEmbeddings(Embed(tokens));

    /// <summary>Width of <see cref="ForwardWithRepresentation"/>'s row representation.</summary>
    public abstract int RepresentationWidth { get; }

    /// <summary>
    /// Outputs [batch, outputs] and the row's final representation [batch, <see cref="RepresentationWidth"/>] from one
    /// pass: the row embedding of <see cref="MixerTrainerOptions.EmbeddingColumnName"/>.
    /// </summary>
    public abstract (Tensor Outputs, Tensor Representation) ForwardWithRepresentation(Tensor tokens);

    /// <summary>
    /// E[token]; with value tokens, E of the first value token (one "a number is here" vector for all of them) plus their
    /// piecewise-linear embedding. A free embedding per level let the networks memorise rows by their fine levels.
    /// </summary>
    protected static Tensor Embed(Embedding tokenEmbedding, NumberValueEmbedding? valueEmbedding, Tensor tokens)
    {
        if (valueEmbedding is null)
            return tokenEmbedding.forward(tokens);
        // Value tokens are the vocabulary's last ids, so clamping maps exactly them onto the first one.
        // A held Scalar: a temporary one can be finalized mid-call (see AdamWOptimizer).
        using var start = ((long)valueEmbedding.ValueTokenStart).ToScalar();
        using var shared = tokens.clamp_max(start);
        using var values = valueEmbedding.forward(tokens);
        return tokenEmbedding.forward(shared).add_(values);
    }
}
