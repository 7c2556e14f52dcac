using TorchSharp;
using TorchSharp.Modules;
using static MLNetMixers.Models.SafeArithmetic;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace MLNetMixers.Models;

/// <summary>
/// Structured recurrent token mixing (Badger, "Structured Recurrent Mixers"). Each head h projects the features to its
/// slice x, mixes the sequence with a lower-triangular matrix of repeat structure and a learned decay, and the heads are
/// concatenated and projected back:
///   column-repeat head:  M[t,i] = w_t · λ^(t-i)   (i ≤ t)    y_t = w_t Σ_{i≤t} λ^(t-i) x_i + b_t
///   row-repeat head:     M[t,i] = w_i · λ^(t-i)   (i ≤ t)    y_t = Σ_{i≤t} λ^(t-i) w_i x_i + b_t
/// The first ⌈H/2⌉ heads are column-repeat, the others row-repeat. Written as M[t,i] = g_t λ^(t-i) a_i
/// (column: g = w, a = 1; row: g = 1, a = w), the same weights run two ways:
///   training (<see cref="forward"/>): the dense masked matrix, an ordinary [T,T] GEMM per head;
///   decoding (<see cref="Step"/>): s_t = λ s_{t-1} + a_t x_t, y_t = g_t s_t + b_t, with one state vector s per head,
///   kept as is (never recovered by dividing by w_t, which is unstable near w_t = 0). Nothing grows with t.
/// Decay: γ = clip(γ̃, 0.9, 1) per head and λ = γ^(1/c) with c = max(1, S/512) (real division). For S a multiple of 512
/// this is the paper's γ^(1/(S//512)); below S = 512, where the paper's S//512 is 0, λ = γ, so the per-step decay spans
/// [0.9, 1] as it does at S = 512, and λ is defined for every S.
/// w and b are indexed by absolute position t &lt; S (the context length): see TextGenerator for what happens past S.
/// </summary>
internal sealed class StructuredRecurrentTokenMixing : Module<Tensor, Tensor>, ICausalTokenMixer
{
    private const double MinDecay = 0.9;
    private const double MaxDecay = 1.0;

    private readonly Linear inProjection;
    private readonly Linear outProjection;
    private readonly Parameter weight; // w: [H, S]
    private readonly Parameter bias;   // b: [H, S], shared by the channels of a head
    private readonly Parameter decay;  // γ̃: [H], clipped to [0.9, 1]
    private readonly int heads;
    private readonly int columnHeads;
    private readonly int contextLength;
    private readonly double decayExponent; // 1/c

    public StructuredRecurrentTokenMixing(int contextLength, int width, int heads) : base(nameof(StructuredRecurrentTokenMixing))
    {
        this.heads = MultiHeadTokenMixing.CheckHeads(width, heads);
        this.contextLength = contextLength;
        columnHeads = (heads + 1) / 2;
        decayExponent = 1.0 / Math.Max(1.0, contextLength / 512.0);
        // One [D, D] projection is the paper's H per-head [D, D/H] projections side by side.
        inProjection = Linear(width, width);
        outProjection = Linear(width, width);
        weight = Parameter(empty(heads, contextLength));
        bias = Parameter(zeros(heads, contextLength));
        decay = Parameter(ones(heads));
        ResetMixingParameters(null);
        RegisterComponents();
    }

    /// <summary>Column-repeat heads (the first ones); the rest are row-repeat.</summary>
    public int ColumnHeads => columnHeads;

    /// <summary>The paper's initialisation: w ~ N(0, 2/S) (Kaiming normal of a 1 x S vector), b = 0, γ̃ = 1.</summary>
    public void ResetMixingParameters(Generator? generator)
    {
        using var noGrad = no_grad();
        weight.normal_(0, Math.Sqrt(2.0 / contextLength), generator);
        bias.zero_();
        decay.fill_(1.0);
    }

    /// <summary>log λ per head, [H].</summary>
    private Tensor LogLambda()
    {
        using var low = MinDecay.ToScalar();
        using var high = MaxDecay.ToScalar();
        return Scale(decay.clamp(low, high).log(), decayExponent);
    }

    /// <summary>g (the output-side factor) and a (the input-side factor) for the first <paramref name="t"/> positions: [H, t] each.</summary>
    private (Tensor Output, Tensor Input) Factors(int t)
    {
        var w = weight[.., ..t];
        var ones = torch.ones(heads, t, dtype: w.dtype, device: w.device);
        return (cat([w[..columnHeads], ones[columnHeads..]], 0), cat([ones[..columnHeads], w[columnHeads..]], 0));
    }

    /// <summary>λ^(t-i) for i ≤ t, 0 above the diagonal: [H, T, T].</summary>
    private Tensor DecayMatrix(int t)
    {
        var positions = arange(t, dtype: weight.dtype, device: weight.device);
        var lag = Add(positions.unsqueeze(1), positions.unsqueeze(0).neg()).clamp_min(0); // t - i
        return (LogLambda().view(heads, 1, 1) * lag.unsqueeze(0)).exp().tril();
    }

    /// <summary>The dense mixing matrices M[h,t,i] = g_t λ^(t-i) a_i: [H, T, T] (the parallel form).</summary>
    public Tensor Matrices(int t)
    {
        var (g, a) = Factors(t);
        return g.unsqueeze(2) * DecayMatrix(t) * a.unsqueeze(1);
    }

    public override Tensor forward(Tensor x) => MixHeads(MultiHeadTokenMixing.SplitHeads(inProjection.forward(x), heads));

    private Tensor MixHeads(Tensor perHead)
    {
        int t = (int)perHead.shape[2];
        var mixed = MultiHeadTokenMixing.MixHeads(Matrices(t), perHead, bias[.., ..t].unsqueeze(2));
        return outProjection.forward(MultiHeadTokenMixing.MergeHeads(mixed));
    }

    /// <summary>The parallel form over the prompt; the state after it is s_{T-1} = Σ_i λ^(T-1-i) a_i x_i.</summary>
    public Tensor Prefill(Tensor normed, DecodingCache cache)
    {
        if (cache.Length != 0)
            throw new InvalidOperationException("The structured recurrent mixer prefills from position 0 only; step on from there.");
        int t = (int)normed.shape[1];
        var perHead = MultiHeadTokenMixing.SplitHeads(inProjection.forward(normed), heads); // [B, H, T, C]
        var (_, a) = Factors(t);
        var lastRow = DecayMatrix(t)[.., (t - 1)..t] * a.unsqueeze(1);                            // [H, 1, T]
        cache.Advance(t);
        cache.State = matmul(lastRow, perHead);                                                    // [B, H, 1, C]
        return MixHeads(perHead);
    }

    /// <summary>One position in O(1): s_t = λ s_{t-1} + a_t x_t, y_t = g_t s_t + b_t.</summary>
    public Tensor Step(Tensor normedRow, DecodingCache cache)
    {
        int t = cache.Length;
        var x = MultiHeadTokenMixing.SplitHeads(inProjection.forward(normedRow), heads);     // [B, H, 1, C]
        cache.Advance(1);
        var w = weight[.., t].view(heads, 1, 1);
        var ones = torch.ones(heads - columnHeads, 1, 1, dtype: w.dtype, device: w.device);
        var g = cat([w[..columnHeads], ones], 0);
        var a = cat([torch.ones(columnHeads, 1, 1, dtype: w.dtype, device: w.device), w[columnHeads..]], 0);
        var lambda = LogLambda().exp().view(heads, 1, 1);
        var input = a * x;
        var state = cache.State is null ? input : Add(lambda * cache.State, input);
        cache.State = state;
        var y = Add(g * state, bias[.., t].view(heads, 1, 1));
        return outProjection.forward(MultiHeadTokenMixing.MergeHeads(y));
    }
}
