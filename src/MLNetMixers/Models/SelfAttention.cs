using TorchSharp;
using TorchSharp.Modules;
using static MLNetMixers.Models.SafeArithmetic;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace MLNetMixers.Models;

/// <summary>
/// Multi-head self-attention, the transformer baselines' token mixer: softmax(Q Kᵀ / √d_h (+ causal mask)) V per head,
/// heads concatenated and projected. Causal (GPT-2 style) for language models, where decoding caches keys and values;
/// bidirectional for tabular rows.
/// </summary>
internal sealed class SelfAttention : Module<Tensor, Tensor>, ICausalTokenMixer
{
    private readonly Linear queryKeyValue;
    private readonly Linear outProjection;
    private readonly int heads;
    private readonly bool causal;

    public SelfAttention(int width, int heads, bool causal) : base(nameof(SelfAttention))
    {
        this.heads = MultiHeadTokenMixing.CheckHeads(width, heads);
        this.causal = causal;
        queryKeyValue = Linear(width, 3 * width);
        outProjection = Linear(width, width);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        var (q, k, v) = Project(x);
        return Attend(q, k, v);
    }

    public Tensor Prefill(Tensor normed, DecodingCache cache)
    {
        MultiHeadTokenMixing.CheckCausal(causal);
        var (q, k, v) = Project(normed);
        cache.AppendFirst(k, timeDim: 2);
        cache.AppendSecond(v, timeDim: 2);
        cache.Advance((int)normed.shape[1]);
        return Attend(q, k, v);
    }

    public Tensor Step(Tensor normedRow, DecodingCache cache)
    {
        MultiHeadTokenMixing.CheckCausal(causal);
        var (q, k, v) = Project(normedRow);
        var keys = cache.AppendFirst(k, timeDim: 2);
        var values = cache.AppendSecond(v, timeDim: 2);
        cache.Advance(1);
        var attention = functional.softmax(Scale(matmul(q, keys.transpose(-2, -1)), 1 / Math.Sqrt(q.shape[3])), -1);
        return outProjection.forward(MultiHeadTokenMixing.MergeHeads(matmul(attention, values)));
    }

    private Tensor Attend(Tensor q, Tensor k, Tensor v)
    {
        var scores = Scale(matmul(q, k.transpose(-2, -1)), 1 / Math.Sqrt(q.shape[3]));
        if (causal)
        {
            long t = q.shape[2];
            scores = MaskedFill(scores, ones(t, t, dtype: ScalarType.Bool, device: q.device).triu(1), double.NegativeInfinity);
        }
        return outProjection.forward(MultiHeadTokenMixing.MergeHeads(matmul(functional.softmax(scores, -1), v)));
    }

    /// <summary>[B, T, D] -> query, key and value, each [B, H, T, D/H].</summary>
    private (Tensor Query, Tensor Key, Tensor Value) Project(Tensor x)
    {
        var parts = queryKeyValue.forward(x).chunk(3, dim: -1);
        return (MultiHeadTokenMixing.SplitHeads(parts[0], heads),
                MultiHeadTokenMixing.SplitHeads(parts[1], heads),
                MultiHeadTokenMixing.SplitHeads(parts[2], heads));
    }
}
