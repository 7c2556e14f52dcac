using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace MLNetMixers.Models;

/// <summary>
/// Baseline: the seed paper's MLP ("Small Language Models for Tabular Data" used flattened one-hot characters ->
/// 500 -> 100 -> 20 -> out with ReLU). Here the one-hot vectors are learned embeddings of width d, and every hidden
/// layer has MlpRatio·d units:
///   x  = flatten(E[token] + PLE(token) · W[position])   [batch, T·d]  (the second term for value tokens only)
///   h_i = Dropout(ReLU(W_i h_{i-1} + b_i))   for i = 1..Depth
///   y  = W_out h_Depth
/// Position needs no embedding: flattening keeps each character in its own slot.
/// </summary>
internal sealed class MlpBaseline : TabularModel
{
    private readonly Embedding tokenEmbedding;
    private readonly NumberValueEmbedding? valueEmbedding;
    private readonly ModuleList<Linear> hidden;
    private readonly Linear head;
    private readonly SeededDropout dropout;

    public MlpBaseline(int sequenceLength, int vocabularySize, int outputs, int width, int depth, int mlpRatio, double dropout, int valueTokenStart = -1)
        : base(nameof(MlpBaseline))
    {
        tokenEmbedding = Embedding(vocabularySize, width);
        valueEmbedding = valueTokenStart < 0 ? null : new NumberValueEmbedding(sequenceLength, vocabularySize, valueTokenStart, width);
        int units = mlpRatio * width;
        hidden = new ModuleList<Linear>(Enumerable.Range(0, depth)
            .Select(i => Linear(i == 0 ? sequenceLength * width : units, units))
            .ToArray());
        head = Linear(depth == 0 ? sequenceLength * width : units, outputs);
        this.dropout = new SeededDropout(dropout);
        RegisterComponents();
    }

    public override Tensor Embed(Tensor tokens) => Embed(tokenEmbedding, valueEmbedding, tokens);

    public override Tensor ForwardFromEmbeddings(Tensor embedded) => head.forward(Hidden(embedded));

    public override int RepresentationWidth => (int)head.weight.shape[1];

    /// <summary>The last hidden layer (the flattened embeddings when there is none): what the head reads.</summary>
    public override (Tensor Outputs, Tensor Representation) ForwardWithRepresentation(Tensor tokens)
    {
        var h = Hidden(Embed(tokens));
        return (head.forward(h), h);
    }

    private Tensor Hidden(Tensor embedded)
    {
        var h = embedded.flatten(1);
        foreach (var layer in hidden)
            h = dropout.forward(functional.relu(layer.forward(h)));
        return h;
    }
}
