using TorchSharp;
using TorchSharp.Modules;
using static MLNetMixers.Models.SafeArithmetic;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace MLNetMixers.Models;

/// <summary>How a tabular model turns the final sequence into its outputs.</summary>
internal enum TabularHead
{
    /// <summary>Concatenate every position's features, then one linear layer (keeps where each character sat).</summary>
    Flatten,

    /// <summary>Average over positions, then one linear layer (fewer weights for long rows).</summary>
    MeanPool,
}

/// <summary>Shape of a <see cref="TabularMixer"/>.</summary>
internal sealed record TabularMixerConfig(
    int SequenceLength,
    int VocabularySize,
    int Outputs,
    int Width = 64,
    int Depth = 4,
    int MlpRatio = 4,
    int Heads = 1,
    double Dropout = 0.1,
    TabularHead Head = TabularHead.Flatten,
    int ValueTokenStart = -1);

/// <summary>
/// A bidirectional mixer over an encoded row (Badger, "Small Language Models for Tabular Data",
/// with the masked-mixer block):
///   h0 = E[token] + PLE(token) · W[position] + P[position]     (the middle term for value tokens only)
///   h  = Block_N(... Block_1(h0))
///   y  = W · flatten(LayerNorm(h))          (or mean over positions)
/// <see cref="Embed"/> and <see cref="ForwardFromEmbeddings"/> split the pass at the token
/// embeddings, where attribution measures gradients.
/// </summary>
internal sealed class TabularMixer : TabularModel
{
    private readonly Embedding tokenEmbedding;
    private readonly NumberValueEmbedding? valueEmbedding;
    private readonly Parameter positionEmbedding;
    private readonly ModuleList<MixerBlock> blocks;
    private readonly LayerNorm finalNorm;
    private readonly Linear head;
    private readonly SeededDropout embeddingDropout;

    public TabularMixer(TabularMixerConfig config) : base(nameof(TabularMixer))
    {
        Config = config;
        tokenEmbedding = Embedding(config.VocabularySize, config.Width);
        valueEmbedding = config.ValueTokenStart < 0 ? null : new NumberValueEmbedding(config.SequenceLength, config.VocabularySize, config.ValueTokenStart, config.Width);
        positionEmbedding = Parameter(randn(config.SequenceLength, config.Width) * 0.02);
        blocks = new ModuleList<MixerBlock>(Enumerable.Range(0, config.Depth)
            .Select(_ => new MixerBlock(config.SequenceLength, config.Width, config.MlpRatio, causal: false, config.Heads, config.Dropout))
            .ToArray());
        finalNorm = LayerNorm(config.Width);
        int headInputs = config.Head == TabularHead.Flatten ? config.SequenceLength * config.Width : config.Width;
        head = Linear(headInputs, config.Outputs);
        embeddingDropout = new SeededDropout(config.Dropout);
        RegisterComponents();
    }

    public TabularMixerConfig Config { get; }

    /// <summary>Token embeddings E[token] (+ PLE(token) · W[position]): [batch, T] int64 -> [batch, T, d].</summary>
    public override Tensor Embed(Tensor tokens) => Embed(tokenEmbedding, valueEmbedding, tokens);

    /// <summary>The rest of the network from token embeddings to outputs: [batch, T, d] -> [batch, outputs].</summary>
    public override Tensor ForwardFromEmbeddings(Tensor embedded)
    {
        var h = embeddingDropout.forward(Add(embedded, positionEmbedding));
        foreach (var block in blocks)
            h = block.forward(h);
        h = FusedLayerNorm.Apply(finalNorm, h);
        h = Config.Head == TabularHead.Flatten ? h.flatten(1) : h.mean([1]);
        return head.forward(h);
    }

}
