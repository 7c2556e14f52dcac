using TorchSharp;
using TorchSharp.Modules;
using static MLNetMixers.Models.SafeArithmetic;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace MLNetMixers.Models;

/// <summary>
/// Token mixing (Badger, "Masked Mixers"): a learned n x n matrix applied across the sequence axis, the same for every
/// feature, plus a per-position bias: y_i = Σ_j W[i,j] x_j + b_i. Causal (the masked mixer) masks W to its lower
/// triangle on every forward, so position i sees only j ≤ i; shorter inputs then use the top-left corner of W.
/// </summary>
internal sealed class TokenMixing : Module<Tensor, Tensor>, ICausalTokenMixer
{
    private readonly Parameter weight; // [n, n]
    private readonly Parameter bias;   // [n, 1]
    private readonly bool causal;

    public TokenMixing(int sequenceLength, bool causal) : base(nameof(TokenMixing))
    {
        this.causal = causal;
        // Same init as Conv1d(n, n, 1), the seeds' implementation: U(-1/sqrt(n), 1/sqrt(n)).
        double bound = 1.0 / Math.Sqrt(sequenceLength);
        weight = Parameter(empty(sequenceLength, sequenceLength).uniform_(-bound, bound));
        bias = Parameter(empty(sequenceLength, 1).uniform_(-bound, bound));
        RegisterComponents();
    }

    public int SequenceLength => (int)weight.shape[0];

    /// <summary>The effective mixing matrix (masked when causal).</summary>
    public Tensor Matrix => causal ? weight.tril() : weight;

    public Parameter Bias => bias;

    /// <summary>Mixes x [B, t, D] (or [t, D]), t ≤ n.</summary>
    public override Tensor forward(Tensor x)
    {
        int t = (int)x.shape[^2];
        return t == SequenceLength ? Mix(Matrix, x, bias) : Mix(Corner(weight, t, causal), x, bias[..t]);
    }

    public Tensor Prefill(Tensor normed, DecodingCache cache)
    {
        MultiHeadTokenMixing.CheckCausal(causal);
        cache.AppendFirst(normed, timeDim: 1);
        cache.Advance((int)normed.shape[1]);
        return forward(normed);
    }

    public Tensor Step(Tensor normedRow, DecodingCache cache)
    {
        MultiHeadTokenMixing.CheckCausal(causal);
        int i = cache.Length;
        var rows = cache.AppendFirst(normedRow, timeDim: 1);   // x_0 .. x_i
        cache.Advance(1);
        return Add(matmul(weight[i..(i + 1), ..(i + 1)], rows), bias[i]);
    }

    /// <summary>The top-left t x t corner of a [.., n, n] matrix, masked when causal.</summary>
    internal static Tensor Corner(Tensor matrix, int t, bool causal)
    {
        var corner = matrix.narrow(-2, 0, t).narrow(-1, 0, t);
        return causal ? corner.tril() : corner;
    }

    /// <summary>
    /// y = W·x + bias over the sequence axis of x [B, T, D] (any leading shape falls back to <c>matmul</c>).
    /// </summary>
    /// <remarks>
    /// <c>matmul(W[T,T], x[B,T,D])</c> makes libtorch materialise W broadcast to [B,T,T] and, in the backward pass,
    /// a [B,T,T] gradient it then reduces: 6.6x slower than the GEMMs themselves at the tabular shape. A batched GEMM
    /// whose batch stride for W is 0 (<c>expand</c> copies nothing) reads W in place. Measured alternatives (one [T,T]x[T,B·D] GEMM after a transpose copy, or x^T·W^T) are in
    /// benchmarks/results/TokenMixing.md.
    /// </remarks>
    internal static Tensor Mix(Tensor matrix, Tensor x, Tensor bias)
    {
        if (x.dim() != 3)
            return Add(matmul(matrix, x), bias);
        return Add(bmm(matrix.expand(x.shape[0], matrix.shape[0], matrix.shape[1]), x), bias);
    }
}

/// <summary>
/// Multi-head token mixing: project, split the features into heads, mix each head's sequence with its own n x n matrix
/// (lower-triangular when causal), concatenate the heads and project back.
/// </summary>
internal sealed class MultiHeadTokenMixing : Module<Tensor, Tensor>, ICausalTokenMixer
{
    private readonly Linear inProjection;
    private readonly Linear outProjection;
    private readonly Parameter weight; // [H, n, n]
    private readonly Parameter bias;   // [H, n, 1]
    private readonly int heads;
    private readonly bool causal;

    public MultiHeadTokenMixing(int sequenceLength, int modelWidth, int heads, bool causal) : base(nameof(MultiHeadTokenMixing))
    {
        this.heads = CheckHeads(modelWidth, heads);
        this.causal = causal;
        inProjection = Linear(modelWidth, modelWidth);
        outProjection = Linear(modelWidth, modelWidth);
        double bound = 1.0 / Math.Sqrt(sequenceLength);
        weight = Parameter(empty(heads, sequenceLength, sequenceLength).uniform_(-bound, bound));
        bias = Parameter(empty(heads, sequenceLength, 1).uniform_(-bound, bound));
        RegisterComponents();
    }

    public Tensor Matrices => causal ? weight.tril() : weight;

    public override Tensor forward(Tensor x) => MixHeads(SplitHeads(inProjection.forward(x), heads));

    public Tensor Prefill(Tensor normed, DecodingCache cache)
    {
        CheckCausal(causal);
        var perHead = SplitHeads(inProjection.forward(normed), heads);
        cache.AppendFirst(perHead, timeDim: 2);
        cache.Advance((int)normed.shape[1]);
        return MixHeads(perHead);
    }

    public Tensor Step(Tensor normedRow, DecodingCache cache)
    {
        CheckCausal(causal);
        int i = cache.Length;
        var rows = cache.AppendFirst(SplitHeads(inProjection.forward(normedRow), heads), timeDim: 2);
        cache.Advance(1);
        var mixed = Add(matmul(weight[.., i..(i + 1), ..(i + 1)], rows), bias[.., i..(i + 1)]);
        return outProjection.forward(MergeHeads(mixed));
    }

    /// <summary>[B, H, t, D/H] -> mixed by each head's matrix -> [B, t, D].</summary>
    private Tensor MixHeads(Tensor perHead)
    {
        int t = (int)perHead.shape[2];
        var mixed = t == weight.shape[1] ? MixHeads(Matrices, perHead, bias) : MixHeads(TokenMixing.Corner(weight, t, causal), perHead, bias[.., ..t]);
        return outProjection.forward(MergeHeads(mixed));
    }

    /// <summary>
    /// y[b,h] = W[h] · x[b,h] + bias[h] for x [B, H, T, D/H] as H GEMMs of [T,T] x [T, B·D/H].
    /// </summary>
    /// <remarks>
    /// <c>matmul(W[H,T,T], x[B,H,T,D/H])</c> copies W broadcast to [B·H,T,T] and reduces a [B·H,T,T] gradient; a stride-0
    /// batch cannot span two broadcast dimensions, so the sequence axis is brought forward instead (one copy of x).
    /// </remarks>
    internal static Tensor MixHeads(Tensor matrices, Tensor x, Tensor bias)
    {
        long batch = x.shape[0], heads = x.shape[1], length = x.shape[2], width = x.shape[3];
        var columns = x.permute(1, 2, 0, 3).reshape(heads, length, batch * width);
        var mixed = Add(bmm(matrices, columns), bias);
        return mixed.view(heads, length, batch, width).permute(2, 0, 1, 3);
    }

    internal static int CheckHeads(int width, int heads)
    {
        if (heads < 1 || width % heads != 0)
            throw new ArgumentException($"The model width ({width}) must be a positive multiple of the number of heads ({heads}).", nameof(heads));
        return heads;
    }

    /// <summary>Incremental decoding needs causal mixing: a bidirectional mixer's earlier outputs change with every new position.</summary>
    internal static void CheckCausal(bool causal)
    {
        if (!causal)
            throw new InvalidOperationException("Only causal token mixing can decode one position at a time.");
    }

    /// <summary>[B, T, D] -> [B, H, T, D/H].</summary>
    internal static Tensor SplitHeads(Tensor x, int heads)
        => x.view(x.shape[0], x.shape[1], heads, x.shape[2] / heads).transpose(1, 2);

    /// <summary>[B, H, T, D/H] -> [B, T, D].</summary>
    internal static Tensor MergeHeads(Tensor x)
        => x.transpose(1, 2).reshape(x.shape[0], x.shape[2], x.shape[1] * x.shape[3]);
}
