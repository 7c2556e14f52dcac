using MLNetMixers.Models;
using MLNetMixers.Text;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace MLNetMixers.Compression;

/// <summary>Shape of a <see cref="MemoryCode"/>: m code dimensions of b bits each, and its encoder.</summary>
internal sealed record MemoryCodeConfig(int Size, int Bits, LanguageModelConfig Encoder)
{
    /// <summary>2^b quantisation levels per dimension.</summary>
    public int Levels => 1 << Bits;

    /// <summary>m · b: what one window's code costs in the compressed stream.</summary>
    public int BitsPerWindow => Size * Bits;

    public void Save(BinaryWriter w)
    {
        w.Write(Size);
        w.Write(Bits);
        Encoder.Save(w);
    }

    public static MemoryCodeConfig Load(BinaryReader r) => new(r.ReadInt32(), r.ReadInt32(), LanguageModelConfig.Load(r));

    /// <summary>The code of the options' decoder: the encoder reads the n_ctx − 1 tokens a window predicts.</summary>
    public static MemoryCodeConfig For(MixerLanguageModelOptions options, LanguageModelConfig decoder) => new(
        options.MemoryCodeSize, options.MemoryCodeBits,
        decoder with { ContextLength = decoder.ContextLength - 1, Width = options.MemoryEncoderWidth, Depth = options.MemoryEncoderDepth });
}

/// <summary>
/// The bottleneck of the encoder-augmented causal decoder ("Know Your Limits"): a small encoder of the token-mixer family
/// reads the window the decoder will predict, and its last position's state (which has seen the whole window, as in the
/// memory models) becomes m numbers on a grid of 2^b levels,
///   c = Q(tanh(W_b · H_enc(window)[last])),   Q rounds to the grid with a straight-through gradient,
/// and the decoder reads W_m · c as a memory pseudo-token before the window. The code sees the future, so a compressed
/// stream must carry it: m · b bits per window, which the compressor writes and every loss counts.
/// </summary>
internal sealed class MemoryCode : Module<Tensor, Tensor>
{
    private readonly LanguageModel encoder;
    private readonly Linear bottleneck;
    private readonly Linear memoryProjection;

    public MemoryCode(MemoryCodeConfig config, int decoderWidth) : base(nameof(MemoryCode))
    {
        Config = config;
        encoder = new LanguageModel(config.Encoder);
        bottleneck = Linear(config.Encoder.Width, config.Size);
        memoryProjection = Linear(config.Size, decoderWidth);
        RegisterComponents();
    }

    public MemoryCodeConfig Config { get; }

    public void Initialize(int seed)
    {
        encoder.Initialize(seed);
        using var noGrad = no_grad();
        var generator = new Generator((ulong)seed + 3);
        foreach (var linear in new[] { bottleneck, memoryProjection })
        {
            double bound = 1 / Math.Sqrt(linear.weight!.shape[1]);
            linear.weight!.uniform_(-bound, bound, generator);
            linear.bias!.uniform_(-bound, bound, generator);
        }
    }

    /// <summary>The code [B, m] of windows [B, T] on the grid in [−1, 1], with the gradient of the unrounded code (straight through).</summary>
    public override Tensor forward(Tensor window)
    {
        var squashed = tanh(bottleneck.forward(encoder.HiddenStates(window)[.., -1]).to(ScalarType.Float32));
        var grid = Values(Levels(squashed));
        return squashed + (grid - squashed).detach();
    }

    /// <summary>The integer level 0..2^b − 1 of each code dimension of one window [T] (what the stream carries).</summary>
    public int[] LevelsOf(ReadOnlySpan<int> window, Device device)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var ids = tensor(window.ToArray().Select(t => (long)t).ToArray(), [1, window.Length], device: device);
        var squashed = tanh(bottleneck.forward(encoder.HiddenStates(ids)[.., -1]).to(ScalarType.Float32));
        return Levels(squashed).to(ScalarType.Int32).cpu().data<int>().ToArray();
    }

    /// <summary>The memory pseudo-tokens [B, 1, D] of codes [B, m] on the grid.</summary>
    public Tensor MemoryToken(Tensor code) => memoryProjection.forward(code.to(memoryProjection.weight!.dtype)).unsqueeze(1);

    /// <summary>The memory pseudo-tokens [B, 1, D] of integer codes read from a stream: exactly what the compressing side computed from them.</summary>
    public Tensor MemoryToken(IReadOnlyList<int[]> levels, Device device)
    {
        var flat = levels.SelectMany(l => l).Select(l => (float)l).ToArray();
        return MemoryToken(Values(tensor(flat, [levels.Count, Config.Size], device: device)));
    }

    /// <summary>Levels (float) of codes in [−1, 1]: round((c + 1)/2 · (2^b − 1)).</summary>
    private Tensor Levels(Tensor squashed) => ((squashed + 1) * (0.5 * (Config.Levels - 1))).round().clamp(0, Config.Levels - 1);

    /// <summary>The grid values in [−1, 1] of levels.</summary>
    private Tensor Values(Tensor levels) => levels * (2.0 / (Config.Levels - 1)) - 1;

    /// <summary>
    /// The summed cross-entropy of <paramref name="decoder"/> on windows (x, y) [B, T] with the memory token of y's code
    /// prepended: the decoder reads [memory, x_0..x_{T−1}] and positions 1..T predict y.
    /// </summary>
    public Tensor LossSum(LanguageModel decoder, Tensor x, Tensor y)
    {
        var logits = decoder.Forward(x, MemoryToken(forward(y)))[.., 1..];
        return functional.cross_entropy(logits.to(ScalarType.Float32).reshape(-1, logits.shape[2]), y.reshape(-1), reduction: Reduction.Sum);
    }

    public long ParameterCount => parameters().Sum(p => p.numel());
}

/// <summary>The causal decoder and its memory code as one trainable module (what the training step optimises).</summary>
internal sealed class CodedLanguageModel : nn.Module
{
    private readonly LanguageModel decoder;
    private readonly MemoryCode code;

    public CodedLanguageModel(LanguageModel decoder, MemoryCode code) : base(nameof(CodedLanguageModel))
    {
        this.decoder = decoder;
        this.code = code;
        RegisterComponents();
    }
}
