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
            MixerLanguageModelArchitecture.StructuredRecurrentMixer => new StructuredRecurrentTokenMixing(contextLength, width, heads),
            MixerLanguageModelArchitecture.LlamaTransformer => new RotaryCausalSelfAttention(width, heads),   // inside a LlamaBlock
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
/// (the normed inputs for mixers, keys and values for attention), or a recurrent mixer's fixed-size state.
/// Lives outside any dispose scope.
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
