using TorchSharp;
using TorchSharp.Modules;
using static MLNetMixers.Models.SafeArithmetic;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace MLNetMixers.Models;

/// <summary>
/// One block of every sequence model here:
///   x = x + TokenMix(LayerNorm(x))
///   x = x + W2 · GELU(W1 · LayerNorm(x))
/// The token mixer (<see cref="TokenMixers"/>) mixes along the sequence axis: a learned matrix (bidirectional for
/// tabular rows, lower-triangular for language models), a Toeplitz convolution, or self-attention (which makes this a
/// pre-LN transformer block); the channel MLP mixes features at each position.
/// With <see cref="ChannelMlpFirst"/> the two lines run in the other order (the structured recurrent mixer's blocks).
/// </summary>
internal sealed class MixerBlock : Module<Tensor, Tensor>
{
    private readonly LayerNorm tokenNorm;
    private readonly Module<Tensor, Tensor> tokenMixing;
    private readonly LayerNorm channelNorm;
    private readonly Linear expand;
    private readonly Linear contract;
    private readonly SeededDropout dropout;

    /// <param name="tokenMixing">The token mixer, from <see cref="TokenMixers"/>.</param>
    /// <param name="width">d, the feature width.</param>
    /// <param name="mlpRatio">k: the channel MLP is d -> k·d -> d.</param>
    /// <param name="dropout">Dropout on each residual branch.</param>
    /// <param name="channelMlpFirst">Runs the channel MLP before token mixing (the structured recurrent mixer's order).</param>
    public MixerBlock(Module<Tensor, Tensor> tokenMixing, int width, int mlpRatio = 4, double dropout = 0.0, bool channelMlpFirst = false)
        : base(nameof(MixerBlock))
    {
        ChannelMlpFirst = channelMlpFirst;
        tokenNorm = LayerNorm(width);
        this.tokenMixing = tokenMixing;
        channelNorm = LayerNorm(width);
        expand = Linear(width, mlpRatio * width);
        contract = Linear(mlpRatio * width, width);
        this.dropout = new SeededDropout(dropout);
        RegisterComponents();
    }

    /// <summary>The token-mixing module, for incremental decoding and inspection.</summary>
    public Module<Tensor, Tensor> TokenMixer => tokenMixing;

    public LayerNorm TokenNorm => tokenNorm;

    /// <summary>The channel half of the block, applied position-wise (also used by incremental decoding).</summary>
    public Tensor ChannelMlp(Tensor x)
    {
        var normed = FusedLayerNorm.Apply(channelNorm, x);
        return dropout.forward(FusedChannelMlp.TryApply(expand, contract, normed) ?? contract.forward(FusedGelu.OfLinear(expand, normed)));
    }

    /// <summary>True when the channel MLP runs before token mixing.</summary>
    public bool ChannelMlpFirst { get; }

    public override Tensor forward(Tensor x) => Apply(x, normed => dropout.forward(tokenMixing.forward(normed)));

    /// <summary>
    /// The block with <paramref name="mix"/> as its token-mixing branch (given the normed input), in the block's order:
    /// forward uses the mixer's parallel form, incremental decoding its Prefill or Step.
    /// </summary>
    public Tensor Apply(Tensor x, Func<Tensor, Tensor> mix)
    {
        if (ChannelMlpFirst)
            x = Add(x, ChannelMlp(x));
        x = Add(x, mix(FusedLayerNorm.Apply(tokenNorm, x)));
        return ChannelMlpFirst ? x : Add(x, ChannelMlp(x));
    }
}
