using TorchSharp;
using TorchSharp.Modules;
using static MLNetMixers.Models.SafeArithmetic;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace MLNetMixers.Models;

/// <summary>
/// Token mixing (Badger, "Masked Mixers"): a learned T x T matrix applied across the sequence axis,
/// the same for every feature, plus a per-position bias: y[b,i,:] = sum_j W[i,j] x[b,j,:] + bias[i].
/// With <c>causal</c> the matrix is masked to its lower triangle on every forward, so position i
/// only sees positions j &lt;= i.
/// </summary>
internal sealed class TokenMixing : Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    private readonly Parameter bias;
    private readonly bool causal;

    public TokenMixing(int sequenceLength, bool causal) : base(nameof(TokenMixing))
    {
        this.causal = causal;
        // Same init as Conv1d(T, T, 1), the seeds' implementation: U(-1/sqrt(T), 1/sqrt(T)).
        double bound = 1.0 / Math.Sqrt(sequenceLength);
        weight = Parameter(empty(sequenceLength, sequenceLength).uniform_(-bound, bound));
        bias = Parameter(empty(sequenceLength, 1).uniform_(-bound, bound));
        RegisterComponents();
    }

    public int SequenceLength => (int)weight.shape[0];

    /// <summary>The effective mixing matrix (masked when causal).</summary>
    public Tensor Matrix => causal ? weight.tril() : weight;

    public Parameter Bias => bias;

    public override Tensor forward(Tensor x) => Mix(Matrix, x, bias);

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

    /// <summary>The plain definition, y = matmul(W, x) + bias: the reference the fast path is tested against.</summary>
    internal static Tensor MixReference(Tensor matrix, Tensor x, Tensor bias) => matmul(matrix, x) + bias;

    /// <summary>
    /// y[b] = W · x[b] for x [B, T, D] as one [T, T] x [T, B·D] GEMM (an alternative kept for the benchmark).
    /// </summary>
    internal static Tensor MixAsOneGemm(Tensor matrix, Tensor x)
    {
        long batch = x.shape[0], length = x.shape[1], width = x.shape[2];
        var columns = x.transpose(0, 1).reshape(length, batch * width);
        return matmul(matrix, columns).view(length, batch, width).transpose(0, 1);
    }
}

/// <summary>
/// Multi-head token mixing: each head projects the features to its own slice, mixes the sequence
/// with its own T x T matrix, and the heads are concatenated and projected back.
/// </summary>
internal sealed class MultiHeadTokenMixing : Module<Tensor, Tensor>
{
    private readonly Linear inProjection;
    private readonly Linear outProjection;
    private readonly Parameter weight; // [heads, T, T]
    private readonly Parameter bias;   // [heads, T, 1]
    private readonly int heads;
    private readonly bool causal;

    public MultiHeadTokenMixing(int sequenceLength, int modelWidth, int heads, bool causal) : base(nameof(MultiHeadTokenMixing))
    {
        if (heads < 1 || modelWidth % heads != 0)
            throw new ArgumentException($"The model width ({modelWidth}) must be a positive multiple of the number of heads ({heads}).", nameof(heads));
        this.heads = heads;
        this.causal = causal;
        inProjection = Linear(modelWidth, modelWidth);
        outProjection = Linear(modelWidth, modelWidth);
        double bound = 1.0 / Math.Sqrt(sequenceLength);
        weight = Parameter(empty(heads, sequenceLength, sequenceLength).uniform_(-bound, bound));
        bias = Parameter(empty(heads, sequenceLength, 1).uniform_(-bound, bound));
        RegisterComponents();
    }

    public Tensor Matrices => causal ? weight.tril() : weight;

    public override Tensor forward(Tensor x)
    {
        long batch = x.shape[0], length = x.shape[1], width = x.shape[2];
        // [B, T, D] -> [B, H, T, D/H]
        var perHead = inProjection.forward(x).view(batch, length, heads, width / heads).transpose(1, 2);
        var mixed = MixHeads(Matrices, perHead, bias);
        return outProjection.forward(mixed.transpose(1, 2).reshape(batch, length, width));
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

    /// <summary>The plain definition, matmul(W, x) + bias, that <see cref="MixHeads"/> is tested against.</summary>
    internal static Tensor MixHeadsReference(Tensor matrices, Tensor x, Tensor bias) => matmul(matrices, x) + bias;
}
