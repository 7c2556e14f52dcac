using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace MLNetMixers.Models;

/// <summary>
/// The token mixers, one family for every model: what a <see cref="MixerBlock"/> applies across the sequence axis.
/// Matrix mixing (<see cref="TokenMixing"/>, <see cref="MultiHeadTokenMixing"/>), bidirectional for tabular rows and
/// causal (masked) for language models; <see cref="ToeplitzTokenMixing"/>; <see cref="SelfAttention"/> for the
/// transformer baselines.
/// </summary>
/// <remarks>
/// Extension point: a new causal architecture is a <c>Module&lt;Tensor, Tensor&gt;</c> whose <c>forward</c> is the
/// parallel (training) form over normed [B, T, D] inputs and which implements <see cref="ICausalTokenMixer"/> for
/// decoding, plus a value of <see cref="MixerLanguageModelArchitecture"/> and its line in <see cref="ForLanguageModel"/>.
/// The language model, its training step, checkpoints, zips and the generator need nothing else.
/// </remarks>
internal static class TokenMixers
{
    /// <summary>The causal token mixer of one block of a language model.</summary>
    public static Module<Tensor, Tensor> ForLanguageModel(MixerLanguageModelArchitecture architecture, int contextLength, int width, int heads)
        => architecture switch
        {
            MixerLanguageModelArchitecture.MaskedMixer => Matrix(contextLength, width, heads, causal: true),
            MixerLanguageModelArchitecture.ToeplitzMixer => new ToeplitzTokenMixing(contextLength, width, heads),
            MixerLanguageModelArchitecture.Transformer => new SelfAttention(width, heads, causal: true),
            _ => throw new ArgumentOutOfRangeException(nameof(architecture), architecture, "Unknown language-model architecture."),
        };

    /// <summary>The bidirectional token mixer of one block of a tabular model.</summary>
    public static Module<Tensor, Tensor> ForTabular(TabularArchitecture architecture, int sequenceLength, int width, int heads)
        => architecture switch
        {
            TabularArchitecture.Mixer => Matrix(sequenceLength, width, heads, causal: false),
            TabularArchitecture.Transformer => new SelfAttention(width, heads, causal: false),
            _ => throw new ArgumentOutOfRangeException(nameof(architecture), architecture, "This tabular architecture has no token mixer."),
        };

    /// <summary>Flat matrix mixing for one head, multi-head mixing otherwise.</summary>
    public static Module<Tensor, Tensor> Matrix(int sequenceLength, int width, int heads, bool causal) => heads == 1
        ? new TokenMixing(sequenceLength, causal)
        : new MultiHeadTokenMixing(sequenceLength, width, heads, causal);
}

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

    public DecodingCache(int capacity) => Capacity = capacity;

    public int Capacity { get; }

    /// <summary>Positions stored so far; the next <see cref="ICausalTokenMixer.Step"/> is at this position.</summary>
    public int Length { get; private set; }

    /// <summary>Writes <paramref name="rows"/> at <see cref="Length"/> along <paramref name="timeDim"/> and returns all rows stored.</summary>
    public Tensor AppendFirst(Tensor rows, int timeDim) => Append(ref first, rows, timeDim);

    /// <summary>A second stream (attention's values), written at the same positions as the first.</summary>
    public Tensor AppendSecond(Tensor rows, int timeDim) => Append(ref second, rows, timeDim);

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
    }
}
