using TorchSharp;
using TorchSharp.Modules;
using static MLNetMixers.Models.SafeArithmetic;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace MLNetMixers.Models;

/// <summary>
/// A causal token mixer that can also decode one position at a time. <see cref="Prefill"/> is the full forward
/// that also remembers what later positions need; <see cref="Step"/> computes only the newest row of the mixing,
/// against that memory, so a new token costs one row of the T x T matrix instead of the whole product.
/// </summary>
internal interface ICausalTokenMixer
{
    /// <summary>Full causal mixing of [B, T, D] normed inputs (T &lt;= context length), filling <paramref name="cache"/>.</summary>
    Tensor Prefill(Tensor normed, DecodingCache cache);

    /// <summary>Mixing output of the next position ([B, 1, D] normed input) given everything cached before it.</summary>
    Tensor Step(Tensor normedRow, DecodingCache cache);
}

/// <summary>
/// What one layer remembers while decoding: rows along a time axis, preallocated to the context length
/// (the normed inputs for mixers, keys and values for attention). Lives outside any dispose scope.
/// </summary>
internal sealed class DecodingCache : IDisposable
{
    private Tensor? first;
    private Tensor? second;
    private Tensor? state;

    public DecodingCache(int capacity) => Capacity = capacity;

    public int Capacity { get; }

    /// <summary>Positions stored so far; the next <see cref="ICausalTokenMixer.Step"/> is at this position.</summary>
    public int Length { get; private set; }

    /// <summary>Writes <paramref name="rows"/> at <see cref="Length"/> along <paramref name="timeDim"/> and returns all rows stored.</summary>
    public Tensor AppendFirst(Tensor rows, int timeDim) => Append(ref first, rows, timeDim);

    /// <summary>A second stream (attention's values), written at the same positions as the first.</summary>
    public Tensor AppendSecond(Tensor rows, int timeDim) => Append(ref second, rows, timeDim);

    /// <summary>
    /// A recurrent mixer's fixed-size state ([B, ...]), replaced at every step instead of growing. Setting it takes the
    /// tensor out of the current dispose scope and disposes the one it replaces.
    /// </summary>
    public Tensor? State
    {
        get => state;
        set
        {
            var old = state;
            state = value?.DetachFromDisposeScope();
            if (!ReferenceEquals(old, value))
                old?.Dispose();
        }
    }

    /// <summary>Bytes of every tensor held, including the rows preallocated up to <see cref="Capacity"/>.</summary>
    public long AllocatedBytes => new[] { first, second, state }.Sum(t => t is null ? 0 : t.NumberOfElements * t.ElementSize);

    /// <summary>
    /// Bytes a sequence needs at its current length: the first <see cref="Length"/> rows of the time-axis buffers
    /// (a cache that grew on demand would hold just these) plus the recurrent state.
    /// </summary>
    public long BytesInUse => new[] { first, second }.Sum(t => t is null ? 0 : t.NumberOfElements * t.ElementSize / Capacity * Length)
                              + (state is null ? 0 : state.NumberOfElements * state.ElementSize);

    /// <summary>Keeps the batch rows <paramref name="rows"/> (int64 indices) of everything held, in that order: finished sequences leave the batch.</summary>
    public void KeepRows(Tensor rows)
    {
        using (no_grad())
        {
            Replace(ref first, rows);
            Replace(ref second, rows);
            Replace(ref state, rows);
        }

        static void Replace(ref Tensor? buffer, Tensor rows)
        {
            if (buffer is null)
                return;
            var kept = buffer.index_select(0, rows.to(buffer.device)).DetachFromDisposeScope();
            buffer.Dispose();
            buffer = kept;
        }
    }

    /// <summary>Moves <see cref="Length"/> past the rows appended by this call.</summary>
    public void Advance(int positions)
    {
        if (Length + positions > Capacity)
            throw new InvalidOperationException($"The decoding cache holds {Capacity} positions; cannot add {positions} after {Length}.");
        Length += positions;
    }

    private Tensor Append(ref Tensor? buffer, Tensor rows, int timeDim)
    {
        long count = rows.shape[timeDim];
        if (Length + count > Capacity)
            throw new InvalidOperationException($"The decoding cache holds {Capacity} positions; cannot add {count} after {Length}.");
        if (buffer is null)
        {
            var shape = rows.shape.ToArray();
            shape[timeDim] = Capacity;
            buffer = zeros(shape, rows.dtype, rows.device).DetachFromDisposeScope();
        }
        using (no_grad())
            buffer.narrow(timeDim, Length, count).copy_(rows);
        return buffer.narrow(timeDim, 0, Length + count);
    }

    public void Dispose()
    {
        first?.Dispose();
        second?.Dispose();
        state?.Dispose();
    }
}

/// <summary>
/// Masked token mixing (Badger, "Masked Mixers"): y_i = Σ_{j≤i} W[i,j] x_j + b_i, the same lower-triangular
/// T x T matrix for every feature. Shorter inputs use the top-left corner of W.
/// </summary>
internal sealed class MaskedTokenMixing : Module<Tensor, Tensor>, ICausalTokenMixer
{
    private readonly Parameter weight; // [n, n]
    private readonly Parameter bias;   // [n, 1]

    public MaskedTokenMixing(int contextLength) : base(nameof(MaskedTokenMixing))
    {
        double bound = 1.0 / Math.Sqrt(contextLength);
        weight = Parameter(empty(contextLength, contextLength).uniform_(-bound, bound));
        bias = Parameter(empty(contextLength, 1).uniform_(-bound, bound));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        long t = x.shape[1];
        return TokenMixing.Mix(weight[..(int)t, ..(int)t].tril(), x, bias[..(int)t]);
    }

    public Tensor Prefill(Tensor normed, DecodingCache cache)
    {
        cache.AppendFirst(normed, timeDim: 1);
        cache.Advance((int)normed.shape[1]);
        return forward(normed);
    }

    public Tensor Step(Tensor normedRow, DecodingCache cache)
    {
        int i = cache.Length;
        var rows = cache.AppendFirst(normedRow, timeDim: 1);   // x_0 .. x_i
        cache.Advance(1);
        return Add(matmul(weight[i..(i + 1), ..(i + 1)], rows), bias[i]);
    }
}

/// <summary>
/// Multi-head masked mixing: project, split the features into heads, mix each head's sequence with its own
/// lower-triangular matrix, concatenate, project back.
/// </summary>
internal sealed class MultiHeadMaskedTokenMixing : Module<Tensor, Tensor>, ICausalTokenMixer
{
    private readonly Linear inProjection;
    private readonly Linear outProjection;
    private readonly Parameter weight; // [H, n, n]
    private readonly Parameter bias;   // [H, n, 1]
    private readonly int heads;

    public MultiHeadMaskedTokenMixing(int contextLength, int width, int heads) : base(nameof(MultiHeadMaskedTokenMixing))
    {
        this.heads = CheckHeads(width, heads);
        inProjection = Linear(width, width);
        outProjection = Linear(width, width);
        double bound = 1.0 / Math.Sqrt(contextLength);
        weight = Parameter(empty(heads, contextLength, contextLength).uniform_(-bound, bound));
        bias = Parameter(empty(heads, contextLength, 1).uniform_(-bound, bound));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => MixHeads(SplitHeads(inProjection.forward(x), heads));

    public Tensor Prefill(Tensor normed, DecodingCache cache)
    {
        var perHead = SplitHeads(inProjection.forward(normed), heads);
        cache.AppendFirst(perHead, timeDim: 2);
        cache.Advance((int)normed.shape[1]);
        return MixHeads(perHead);
    }

    /// <summary>[B, H, T, D/H] -> mixed by each head's lower-triangular matrix -> [B, T, D].</summary>
    private Tensor MixHeads(Tensor perHead)
    {
        int t = (int)perHead.shape[2];
        return outProjection.forward(MergeHeads(MultiHeadTokenMixing.MixHeads(weight[.., ..t, ..t].tril(), perHead, bias[.., ..t])));
    }

    public Tensor Step(Tensor normedRow, DecodingCache cache)
    {
        int i = cache.Length;
        var rows = cache.AppendFirst(SplitHeads(inProjection.forward(normedRow), heads), timeDim: 2);
        cache.Advance(1);
        var mixed = Add(matmul(weight[.., i..(i + 1), ..(i + 1)], rows), bias[.., i..(i + 1)]);
        return outProjection.forward(MergeHeads(mixed));
    }

    internal static int CheckHeads(int width, int heads)
    {
        if (heads < 1 || width % heads != 0)
            throw new ArgumentException($"The model width ({width}) must be a positive multiple of the number of heads ({heads}).", nameof(heads));
        return heads;
    }

    /// <summary>[B, T, D] -> [B, H, T, D/H].</summary>
    internal static Tensor SplitHeads(Tensor x, int heads)
        => x.view(x.shape[0], x.shape[1], heads, x.shape[2] / heads).transpose(1, 2);

    /// <summary>[B, H, T, D/H] -> [B, T, D].</summary>
    internal static Tensor MergeHeads(Tensor x)
        => x.transpose(1, 2).reshape(x.shape[0], x.shape[2], x.shape[1] * x.shape[3]);
}

/// <summary>
/// Toeplitz token mixing ("Toeplitz MLP Mixers"): the causal matrix is tied to one vector per head,
/// M[i,j] = v[i-j] for j ≤ i, so mixing is a causal convolution shared by all channels of the head:
/// y_i = Σ_{j≤i} v[i-j] x_j + b_i. Long inputs go through the FFT (O(T log T)), short ones through the
/// dense tril(toeplitz(v)) matmul, which is faster below <see cref="FftThreshold"/>. One head = no projections.
/// </summary>
internal sealed class ToeplitzTokenMixing : Module<Tensor, Tensor>, ICausalTokenMixer
{
    /// <summary>Sequence length from which the FFT path is used (ToeplitzKernelBenchmark measures the crossover).</summary>
    internal static int FftThreshold = 512;

    private readonly Linear? inProjection;
    private readonly Linear? outProjection;
    private readonly Parameter kernel; // v: [H, n]
    private readonly Parameter bias;   // [H, n, 1]
    private readonly int heads;

    public ToeplitzTokenMixing(int contextLength, int width, int heads) : base(nameof(ToeplitzTokenMixing))
    {
        this.heads = MultiHeadMaskedTokenMixing.CheckHeads(width, heads);
        if (heads > 1)
        {
            inProjection = Linear(width, width);
            outProjection = Linear(width, width);
        }
        double bound = 1.0 / Math.Sqrt(contextLength);
        kernel = Parameter(empty(heads, contextLength).uniform_(-bound, bound));
        bias = Parameter(empty(heads, contextLength, 1).uniform_(-bound, bound));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => forward(x, useFft: x.shape[1] >= FftThreshold);

    /// <summary>Either path, for tests and the kernel benchmark.</summary>
    public Tensor forward(Tensor x, bool useFft) => MixHeads(ToHeads(x), useFft);

    /// <summary>[B, H, T, C] -> causal convolution of each head with its kernel -> [B, T, D].</summary>
    private Tensor MixHeads(Tensor perHead, bool useFft)
    {
        int t = (int)perHead.shape[2];
        // The dense path goes through the same broadcast-free GEMMs as the masked mixers (see TokenMixing.Mix).
        var mixed = useFft ? Add(ConvolveByFft(perHead), bias[.., ..t]) : MultiHeadTokenMixing.MixHeads(DenseMatrix(t), perHead, bias[.., ..t]);
        return FromHeads(mixed);
    }

    /// <summary>tril(toeplitz(v)) for the first <paramref name="t"/> positions: [H, t, t].</summary>
    public Tensor DenseMatrix(int t)
    {
        var lag = arange(t, device: kernel.device).unsqueeze(1) - arange(t, device: kernel.device).unsqueeze(0); // i - j
        return kernel[.., ..t].index_select(1, lag.clamp_min(0).flatten()).view(heads, t, t).tril();
    }

    /// <summary>Causal convolution by FFT: zero-pad to ≥ 2T-1 so the circular product equals the linear one.</summary>
    /// <remarks>
    /// In float32 whatever the model's precision: libtorch has no bfloat16 FFT on the CPU, and bfloat16's 8-bit mantissa
    /// would lose the small terms of a long convolution's sums anyway.
    /// </remarks>
    private Tensor ConvolveByFft(Tensor x)
    {
        int t = (int)x.shape[2];
        long n = 1L << (int)Math.Ceiling(Math.Log2(2 * t - 1));
        var vf = fft.rfft(kernel[.., ..t].to(ScalarType.Float32), n, dim: -1).unsqueeze(0).unsqueeze(-1); // [1, H, n/2+1, 1]
        var xf = fft.rfft(x.to(ScalarType.Float32), n, dim: 2);                                            // [B, H, n/2+1, C]
        return fft.irfft(vf * xf, n, dim: 2)[.., .., ..t].to(x.dtype);
    }

    public Tensor Prefill(Tensor normed, DecodingCache cache)
    {
        var perHead = ToHeads(normed);
        cache.AppendFirst(perHead, timeDim: 2);
        cache.Advance((int)normed.shape[1]);
        return MixHeads(perHead, useFft: normed.shape[1] >= FftThreshold);
    }

    public Tensor Step(Tensor normedRow, DecodingCache cache)
    {
        int i = cache.Length;
        var rows = cache.AppendFirst(ToHeads(normedRow), timeDim: 2);    // [B, H, i+1, C]
        cache.Advance(1);
        var row = kernel[.., ..(i + 1)].flip(1).unsqueeze(1);            // v[i], v[i-1], ..., v[0]: [H, 1, i+1]
        return FromHeads(Add(matmul(row, rows), bias[.., i..(i + 1)]));
    }

    private Tensor ToHeads(Tensor x) => inProjection is null
        ? x.unsqueeze(1)
        : MultiHeadMaskedTokenMixing.SplitHeads(inProjection.forward(x), heads);

    private Tensor FromHeads(Tensor x) => outProjection is null
        ? x.squeeze(1)
        : outProjection.forward(MultiHeadMaskedTokenMixing.MergeHeads(x));
}

/// <summary>
/// Causal multi-head self-attention (GPT-2 style), the transformer baseline's token mixer:
/// softmax(Q Kᵀ / √d_h + causal mask) V. Decoding caches keys and values.
/// </summary>
internal sealed class CausalSelfAttention : Module<Tensor, Tensor>, ICausalTokenMixer
{
    private readonly Linear queryKeyValue;
    private readonly Linear outProjection;
    private readonly int heads;

    public CausalSelfAttention(int width, int heads) : base(nameof(CausalSelfAttention))
    {
        this.heads = MultiHeadMaskedTokenMixing.CheckHeads(width, heads);
        queryKeyValue = Linear(width, 3 * width);
        outProjection = Linear(width, width);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        var (q, k, v) = Project(x);
        return AttendCausally(q, k, v);
    }

    public Tensor Prefill(Tensor normed, DecodingCache cache)
    {
        var (q, k, v) = Project(normed);
        cache.AppendFirst(k, timeDim: 2);
        cache.AppendSecond(v, timeDim: 2);
        cache.Advance((int)normed.shape[1]);
        return AttendCausally(q, k, v);
    }

    private Tensor AttendCausally(Tensor q, Tensor k, Tensor v)
    {
        long t = q.shape[2];
        var future = ones(t, t, dtype: ScalarType.Bool, device: q.device).triu(1);
        var scores = Scale(matmul(q, k.transpose(-2, -1)), 1 / Math.Sqrt(q.shape[3]));
        var attention = functional.softmax(MaskedFill(scores, future, double.NegativeInfinity), -1);
        return outProjection.forward(MultiHeadMaskedTokenMixing.MergeHeads(matmul(attention, v)));
    }

    public Tensor Step(Tensor normedRow, DecodingCache cache)
    {
        var (q, k, v) = Project(normedRow);
        var keys = cache.AppendFirst(k, timeDim: 2);
        var values = cache.AppendSecond(v, timeDim: 2);
        cache.Advance(1);
        var attention = functional.softmax(Scale(matmul(q, keys.transpose(-2, -1)), 1 / Math.Sqrt(q.shape[3])), -1);
        return outProjection.forward(MultiHeadMaskedTokenMixing.MergeHeads(matmul(attention, values)));
    }

    private (Tensor Query, Tensor Key, Tensor Value) Project(Tensor x)
    {
        var parts = queryKeyValue.forward(x).chunk(3, dim: -1);
        return (MultiHeadMaskedTokenMixing.SplitHeads(parts[0], heads),
                MultiHeadMaskedTokenMixing.SplitHeads(parts[1], heads),
                MultiHeadMaskedTokenMixing.SplitHeads(parts[2], heads));
    }
}
