using TorchSharp;
using TorchSharp.Modules;
using static MLNetMixers.Models.SafeArithmetic;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace MLNetMixers.Models;

/// <summary>
/// A Llama block (Touvron et al. 2023), the masked-mixer paper's transformer baseline:
///   x = x + Attention_RoPE(RMSNorm(x))
///   x = x + W2 · (SiLU(W1 · RMSNorm(x)) ⊙ W3 · RMSNorm(x))
/// No biases; positions enter only through the rotation of queries and keys, so the model has no position embedding.
/// </summary>
internal sealed class LlamaBlock : Module<Tensor, Tensor>
{
    private readonly RmsNorm attentionNorm;
    private readonly Module<Tensor, Tensor> attention;   // the token mixer: RotaryCausalSelfAttention (TokenMixers.ForLanguageModel)
    private readonly RmsNorm mlpNorm;
    private readonly Linear gate;
    private readonly Linear up;
    private readonly Linear down;
    private readonly SeededDropout dropout;

    /// <param name="attention">The block's causal token mixer (an <see cref="ICausalTokenMixer"/>).</param>
    /// <param name="width">The model width d.</param>
    /// <param name="mlpRatio">The GELU MLP's ratio k; SwiGLU's hidden width is 2k·d/3 (rounded up to a multiple of 8), the same weights as d -> k·d -> d.</param>
    /// <param name="dropout">Dropout after the attention and the MLP.</param>
    public LlamaBlock(Module<Tensor, Tensor> attention, int width, int mlpRatio, double dropout) : base(nameof(LlamaBlock))
    {
        int hidden = HiddenWidth(width, mlpRatio);
        attentionNorm = new RmsNorm(width);
        this.attention = attention;
        mlpNorm = new RmsNorm(width);
        gate = Linear(width, hidden, hasBias: false);
        up = Linear(width, hidden, hasBias: false);
        down = Linear(hidden, width, hasBias: false);
        this.dropout = new SeededDropout(dropout);
        RegisterComponents();
    }

    internal static int HiddenWidth(int width, int mlpRatio) => (2 * mlpRatio * width / 3 + 7) / 8 * 8;

    public override Tensor forward(Tensor x)
    {
        x = Add(x, dropout.forward(attention.forward(attentionNorm.forward(x))));
        return Add(x, Mlp(x));
    }

    private Tensor Mlp(Tensor x)
    {
        var normed = mlpNorm.forward(x);
        return dropout.forward(down.forward(functional.silu(gate.forward(normed)) * up.forward(normed)));
    }

    /// <summary>The block on the prompt, filling the cache with rotated keys and values.</summary>
    public Tensor Prefill(Tensor x, DecodingCache cache)
    {
        x = Add(x, ((ICausalTokenMixer)attention).Prefill(attentionNorm.forward(x), cache));
        return Add(x, Mlp(x));
    }

    /// <summary>The block on the next position.</summary>
    public Tensor Step(Tensor x, DecodingCache cache)
    {
        x = Add(x, ((ICausalTokenMixer)attention).Step(attentionNorm.forward(x), cache));
        return Add(x, Mlp(x));
    }
}

/// <summary>RMSNorm: x / sqrt(mean(x²) + ε) · g (no centring, no bias).</summary>
internal sealed class RmsNorm : Module<Tensor, Tensor>
{
    private readonly Parameter weight;

    public RmsNorm(int width) : base(nameof(RmsNorm))
    {
        weight = Parameter(ones(width));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        // Statistics in float32 whatever the compute precision: bfloat16 squares lose the small features.
        var x32 = x.to(ScalarType.Float32);
        var normed = x32 * rsqrt(Add(x32.square().mean([-1L], keepdim: true), EpsilonTensor(x32)));
        return normed.to(x.dtype) * weight;
    }

    private static Tensor EpsilonTensor(Tensor like) => tensor(1e-6f, device: like.device);
}

/// <summary>
/// Causal self-attention with rotary position embeddings (Su et al., RoFormer): each query and key of head width
/// d_h is rotated pair-wise by angles t·θ_i, θ_i = 10000^(-2i/d_h), so q_s·k_t depends on s - t only.
/// Decoding caches the rotated keys and the values.
/// </summary>
internal sealed class RotaryCausalSelfAttention : Module<Tensor, Tensor>, ICausalTokenMixer
{
    private readonly Linear queryKeyValue;
    private readonly Linear outProjection;
    private readonly int heads;

    public RotaryCausalSelfAttention(int width, int heads) : base(nameof(RotaryCausalSelfAttention))
    {
        this.heads = MultiHeadTokenMixing.CheckHeads(width, heads);
        if (width / heads % 2 != 0)
            throw new ArgumentException($"Rotary positions need an even head width; width {width} / {heads} heads = {width / heads}.", nameof(heads));
        queryKeyValue = Linear(width, 3 * width, hasBias: false);
        outProjection = Linear(width, width, hasBias: false);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        var (q, k, v) = Project(x, start: 0);
        return Merge(functional.scaled_dot_product_attention(q, k, v, is_casual: true));
    }

    public Tensor Prefill(Tensor normed, DecodingCache cache)
    {
        var (q, k, v) = Project(normed, start: 0);
        cache.AppendFirst(k, timeDim: 2);
        cache.AppendSecond(v, timeDim: 2);
        cache.Advance((int)normed.shape[1]);
        return Merge(functional.scaled_dot_product_attention(q, k, v, is_casual: true));
    }

    public Tensor Step(Tensor normedRow, DecodingCache cache)
    {
        var (q, k, v) = Project(normedRow, start: cache.Length);
        var keys = cache.AppendFirst(k, timeDim: 2);
        var values = cache.AppendSecond(v, timeDim: 2);
        cache.Advance(1);
        // The newest query sees every cached position: no mask.
        return Merge(functional.scaled_dot_product_attention(q, keys, values));
    }

    private Tensor Merge(Tensor perHead) => outProjection.forward(MultiHeadTokenMixing.MergeHeads(perHead));

    private (Tensor Query, Tensor Key, Tensor Value) Project(Tensor x, int start)
    {
        var parts = queryKeyValue.forward(x).chunk(3, dim: -1);
        var q = MultiHeadTokenMixing.SplitHeads(parts[0], heads);
        var k = MultiHeadTokenMixing.SplitHeads(parts[1], heads);
        var (cos, sin) = Angles(start, (int)x.shape[1], (int)q.shape[3], x.device, x.dtype);
        return (Rotate(q, cos, sin), Rotate(k, cos, sin), MultiHeadTokenMixing.SplitHeads(parts[2], heads));
    }

    /// <summary>cos and sin of t·θ_i for positions start..start+count-1: [count, d_h/2] each.</summary>
    internal static (Tensor Cos, Tensor Sin) Angles(int start, int count, int headWidth, Device device, ScalarType dtype)
    {
        var inverse = exp(arange(0, headWidth, 2, dtype: ScalarType.Float32, device: device) * (-Math.Log(10000.0) / headWidth));
        var angles = outer(arange(start, start + count, dtype: ScalarType.Float32, device: device), inverse);
        return (angles.cos().to(dtype), angles.sin().to(dtype));
    }

    /// <summary>Rotates the pairs (x_i, x_{i+d/2}) of [B, H, T, d_h] by the angles.</summary>
    internal static Tensor Rotate(Tensor x, Tensor cos, Tensor sin)
    {
        var halves = x.chunk(2, dim: -1);
        Tensor a = halves[0], b = halves[1];
        return cat([a * cos - b * sin, a * sin + b * cos], dim: -1);
    }
}
