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
}
