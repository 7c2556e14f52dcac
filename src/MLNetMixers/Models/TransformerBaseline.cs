using TorchSharp;
using TorchSharp.Modules;
using static MLNetMixers.Models.SafeArithmetic;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace MLNetMixers.Models;

/// <summary>
/// Baseline: a small pre-LayerNorm transformer encoder over the encoded row, the same shape as
/// <see cref="TabularMixer"/> with self-attention in place of token mixing:
///   h0 = E[token] + PLE(token) · W[position] + P[position]     (the middle term for value tokens only)
///   h  = h + Attention(LayerNorm(h));  h = h + W2 · GELU(W1 · LayerNorm(h))     (per block)
///   y  = W · flatten(LayerNorm(h))
/// </summary>
internal sealed class TransformerBaseline : TabularModel
{
    private readonly Embedding tokenEmbedding;
    private readonly NumberValueEmbedding? valueEmbedding;
    private readonly Parameter positionEmbedding;
    private readonly ModuleList<EncoderBlock> blocks;
    private readonly LayerNorm finalNorm;
    private readonly Linear head;
    private readonly SeededDropout embeddingDropout;

    public TransformerBaseline(int sequenceLength, int vocabularySize, int outputs, int width, int depth, int mlpRatio, int heads, double dropout, int valueTokenStart = -1)
        : base(nameof(TransformerBaseline))
    {
        tokenEmbedding = Embedding(vocabularySize, width);
        valueEmbedding = valueTokenStart < 0 ? null : new NumberValueEmbedding(sequenceLength, vocabularySize, valueTokenStart, width);
        positionEmbedding = Parameter(randn(sequenceLength, width) * 0.02);
        blocks = new ModuleList<EncoderBlock>(Enumerable.Range(0, depth).Select(_ => new EncoderBlock(width, mlpRatio, heads, dropout)).ToArray());
        finalNorm = LayerNorm(width);
        head = Linear(sequenceLength * width, outputs);
        embeddingDropout = new SeededDropout(dropout);
        RegisterComponents();
    }

    public override Tensor Embed(Tensor tokens) => Embed(tokenEmbedding, valueEmbedding, tokens);

    public override Tensor ForwardFromEmbeddings(Tensor embedded)
    {
        var h = embeddingDropout.forward(Add(embedded, positionEmbedding));
        foreach (var block in blocks)
            h = block.forward(h);
        return head.forward(FusedLayerNorm.Apply(finalNorm, h).flatten(1));
    }

    /// <summary>One pre-LN encoder block: x + Attention(LN(x)), then x + MLP(LN(x)).</summary>
    private sealed class EncoderBlock : Module<Tensor, Tensor>
    {
        private readonly LayerNorm attentionNorm;
        private readonly SelfAttention attention;
        private readonly LayerNorm mlpNorm;
        private readonly Linear expand;
        private readonly Linear contract;
        private readonly SeededDropout dropout;

        public EncoderBlock(int width, int mlpRatio, int heads, double dropout) : base(nameof(EncoderBlock))
        {
            attentionNorm = LayerNorm(width);
            attention = new SelfAttention(width, heads);
            mlpNorm = LayerNorm(width);
            expand = Linear(width, mlpRatio * width);
            contract = Linear(mlpRatio * width, width);
            this.dropout = new SeededDropout(dropout);
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            x = Add(x, dropout.forward(attention.forward(FusedLayerNorm.Apply(attentionNorm, x))));
            return Add(x, dropout.forward(contract.forward(FusedGelu.OfLinear(expand, FusedLayerNorm.Apply(mlpNorm, x)))));
        }
    }

    /// <summary>Multi-head self-attention: softmax(Q Kᵀ / sqrt(d_head)) V per head, heads concatenated and projected.</summary>
    private sealed class SelfAttention : Module<Tensor, Tensor>
    {
        private readonly Linear queryKeyValue;
        private readonly Linear output;
        private readonly int heads;

        public SelfAttention(int width, int heads) : base(nameof(SelfAttention))
        {
            if (heads < 1 || width % heads != 0)
                throw new ArgumentException($"The model width ({width}) must be a positive multiple of the number of heads ({heads}).", nameof(heads));
            this.heads = heads;
            queryKeyValue = Linear(width, 3 * width);
            output = Linear(width, width);
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            long batch = x.shape[0], length = x.shape[1], width = x.shape[2], headWidth = width / heads;
            // [B, T, 3D] -> three [B, H, T, D/H]
            var qkv = queryKeyValue.forward(x).view(batch, length, 3, heads, headWidth).permute(2, 0, 3, 1, 4);
            Tensor q = qkv[0], k = qkv[1], v = qkv[2];
            var weights = functional.softmax(Scale(matmul(q, k.transpose(-2, -1)), 1 / Math.Sqrt(headWidth)), -1);
            return output.forward(matmul(weights, v).transpose(1, 2).reshape(batch, length, width));
        }
    }
}
