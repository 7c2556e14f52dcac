using TorchSharp;
using TorchSharp.Modules;
using static MLNetMixers.Models.SafeArithmetic;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace MLNetMixers.Models;

/// <summary>
/// A bidirectional model over an encoded row (Badger, "Small Language Models for Tabular Data",
/// with the masked-mixer block):
///   h0 = E[token] + PLE(token) · W[position] + P[position]     (the middle term for value tokens only)
///   h0 = G · concat(h0[g·j] .. h0[g·j + g - 1])                 (wide rows only: g adjacent positions per token)
///   h  = Block_N(... Block_1(h0))
///   y  = W · flatten(LayerNorm(h))
/// The blocks' token mixer is a learned matrix (<see cref="TabularArchitecture.Mixer"/>) or self-attention, which makes
/// this the transformer baseline (<see cref="TabularArchitecture.Transformer"/>).
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
    private readonly Linear? grouping;

    public TabularMixer(TabularModelConfig config) : base(nameof(TabularMixer))
    {
        Config = config;
        tokenEmbedding = Embedding(config.VocabularySize, config.Width);
        valueEmbedding = config.ValueTokenStart < 0 ? null : new NumberValueEmbedding(config.SequenceLength, config.VocabularySize, config.ValueTokenStart, config.Width);
        positionEmbedding = Parameter(randn(config.SequenceLength, config.Width) * 0.02);
        blocks = new ModuleList<MixerBlock>(Enumerable.Range(0, config.Depth)
            .Select(_ => new MixerBlock(TokenMixers.ForTabular(config.Architecture, config.MixedTokens, config.Width, config.Heads),
                                        config.Width, config.MlpRatio, config.Dropout))
            .ToArray());
        finalNorm = LayerNorm(config.Width);
        head = Linear(config.MixedTokens * config.Width, config.Outputs);
        embeddingDropout = new SeededDropout(config.Dropout);
        // A wide row's T x T mixing grows with the square of the columns and every block's cost with T: grouping g
        // adjacent positions into one token keeps the blocks at MixedTokens whatever the width of the table.
        grouping = config.PositionsPerToken > 1 ? Linear(config.PositionsPerToken * config.Width, config.Width) : null;
        RegisterComponents();
    }

    public TabularModelConfig Config { get; }

    /// <summary>Token embeddings E[token] (+ PLE(token) · W[position]): [batch, T] int64 -> [batch, T, d].</summary>
    public override Tensor Embed(Tensor tokens) => Embed(tokenEmbedding, valueEmbedding, tokens);

    /// <summary>The rest of the network from token embeddings to outputs: [batch, T, d] -> [batch, outputs].</summary>
    public override Tensor ForwardFromEmbeddings(Tensor embedded) => head.forward(HeadInput(Final(embedded)));

    public override int RepresentationWidth => Config.Width;

    /// <summary>
    /// The mean over positions of the final normed hidden states: the tabular paper's observation that the hidden layers
    /// embed the row, pooled so that its size is the model width whatever the number of fields.
    /// </summary>
    public override (Tensor Outputs, Tensor Representation) ForwardWithRepresentation(Tensor tokens)
    {
        var normed = Final(Embed(tokens));
        return (head.forward(HeadInput(normed)), normed.mean([1]));
    }

    /// <summary>
    /// flatten(LN(h)), divided by sqrt(tokens) in a grouped (wide) model: Adam moves every head weight by about the
    /// learning rate, so one step moves a logit by about lr · tokens · d, which made wide rows' loss spike. Models
    /// without grouping keep the plain flatten (saved models score as before).
    /// </summary>
    private Tensor HeadInput(Tensor normed)
        => grouping is null ? normed.flatten(1) : normed.flatten(1).mul(HeadScale(Config));

    /// <summary>The factor of <see cref="HeadInput"/> (also written into the ONNX graph).</summary>
    internal static double HeadScale(TabularModelConfig config) => config.PositionsPerToken > 1 ? 1 / Math.Sqrt(config.MixedTokens) : 1;

    /// <summary>[B, T, d] -> [B, tokens, g·d]: zero-padded to tokens·g positions, then g adjacent positions side by side.</summary>
    private static Tensor Group(Tensor h, int g, int tokens)
    {
        long padding = (long)tokens * g - h.shape[1];
        var padded = padding == 0 ? h : functional.pad(h, [0, 0, 0, padding]);
        return padded.reshape(h.shape[0], tokens, g * h.shape[2]);
    }

    /// <summary>LayerNorm(h) after the blocks: [batch, tokens, d].</summary>
    private Tensor Final(Tensor embedded)
    {
        var h = embeddingDropout.forward(Add(embedded, positionEmbedding));
        if (grouping is not null)
            h = grouping.forward(Group(h, Config.PositionsPerToken, Config.MixedTokens));
        foreach (var block in blocks)
            h = block.forward(h);
        return FusedLayerNorm.Apply(finalNorm, h);
    }

}
