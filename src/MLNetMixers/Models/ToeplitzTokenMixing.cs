using TorchSharp;
using TorchSharp.Modules;
using static MLNetMixers.Models.SafeArithmetic;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace MLNetMixers.Models;

/// <summary>
/// Toeplitz token mixing ("Toeplitz MLP Mixers"): the causal matrix is tied to one vector per head,
/// M[i,j] = v[i-j] for j ≤ i, so mixing is a causal convolution shared by all channels of the head:
/// y_i = Σ_{j≤i} v[i-j] x_j + b_i. Long inputs go through the FFT (O(T log T)), short ones through the
/// dense tril(toeplitz(v)) matmul, which is faster below <see cref="FftThreshold"/>. One head = no projections.
/// </summary>
internal sealed class ToeplitzTokenMixing : Module<Tensor, Tensor>, ICausalTokenMixer
{
    /// <summary>Sequence length from which the FFT path is used (ToeplitzKernelBenchmark measures the crossover).</summary>
    internal const int DefaultFftThreshold = 512;

    [ThreadStatic]
    private static int? threadFftThreshold;

    /// <summary>This thread's FFT threshold: <see cref="DefaultFftThreshold"/> unless a <see cref="UseFftThreshold"/> scope says otherwise.</summary>
    internal static int FftThreshold => threadFftThreshold ?? DefaultFftThreshold;

    /// <summary>
    /// Sets this thread's FFT threshold until the returned scope is disposed (tests of either path); the gradient
    /// workers computing this thread's step take the caller's value (DataParallelGradients).
    /// </summary>
    internal static IDisposable UseFftThreshold(int threshold)
    {
        var previous = threadFftThreshold;
        threadFftThreshold = threshold;
        return new RestoreThreshold(previous);
    }

    private sealed class RestoreThreshold(int? previous) : IDisposable
    {
        public void Dispose() => threadFftThreshold = previous;
    }

    private readonly Linear? inProjection;
    private readonly Linear? outProjection;
    private readonly Parameter kernel; // v: [H, n]
    private readonly Parameter bias;   // [H, n, 1]
    private readonly int heads;

    public ToeplitzTokenMixing(int contextLength, int width, int heads) : base(nameof(ToeplitzTokenMixing))
    {
        this.heads = MultiHeadTokenMixing.CheckHeads(width, heads);
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
        : MultiHeadTokenMixing.SplitHeads(inProjection.forward(x), heads);

    private Tensor FromHeads(Tensor x) => outProjection is null
        ? x.squeeze(1)
        : outProjection.forward(MultiHeadTokenMixing.MergeHeads(x));
}
