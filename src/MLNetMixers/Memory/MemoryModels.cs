using MLNetMixers.Training;
using MLNetMixers.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace MLNetMixers.Memory;

/// <summary>
/// The layout every memory model reads a chunk c_0..c_{n-1} (n ≤ L) in, as one [L + 1] row of token ids and one of targets:
///   tokens  = EOT c_0 .. c_{n-1} EOT ... EOT      (the encoder reads it; right padding never reaches a real position)
///   targets = c_0 .. c_{n-1} EOT -1 ... -1        (what the decoder regenerates; -1 is ignored)
/// The decoder reads [memory, c_0 .. c_{L-1}]: position i predicts c_i after seeing the memory and c_0..c_{i-1}, and
/// position n predicts the end of text, so regeneration knows where the chunk stops.
/// </summary>
internal static class MemoryChunks
{
    public const int Ignored = -1;

    /// <summary>Cuts a token sequence into chunks of at most <paramref name="chunkLength"/> tokens (an empty text is one empty chunk).</summary>
    public static IEnumerable<int[]> Split(int[] tokens, int chunkLength)
    {
        if (tokens.Length == 0)
            yield return [];
        for (int start = 0; start < tokens.Length; start += chunkLength)
            yield return tokens[start..Math.Min(tokens.Length, start + chunkLength)];
    }

    /// <summary>The [N, L + 1] token and target rows of <paramref name="chunks"/> (each at most L tokens).</summary>
    public static (Tensor Tokens, Tensor Targets) Rows(IReadOnlyList<int[]> chunks, int chunkLength, int endOfText, Device device)
    {
        int width = chunkLength + 1;
        var tokens = new long[chunks.Count * width];
        var targets = new long[chunks.Count * width];
        for (int b = 0; b < chunks.Count; b++)
        {
            var c = chunks[b];
            if (c.Length > chunkLength)
                throw new ArgumentException($"A chunk has {c.Length} tokens; at most {chunkLength} fit.", nameof(chunks));
            for (int i = 0; i < width; i++)
            {
                tokens[b * width + i] = i >= 1 && i - 1 < c.Length ? c[i - 1] : endOfText;
                targets[b * width + i] = i < c.Length ? c[i] : i == c.Length ? endOfText : Ignored;
            }
        }
        return (tensor(tokens, [chunks.Count, width], device: device), tensor(targets, [chunks.Count, width], device: device));
    }

    /// <summary>
    /// The targets of rows cut to their first ℓ tokens, [B, ℓ + 1]: a chunk longer than ℓ now ends with the end of text at
    /// position ℓ, so its last real position is ℓ and the encoder's causal state there has read exactly c_0..c_{ℓ-1}.
    /// </summary>
    public static Tensor Truncate(Tensor targets, int length, int endOfText)
    {
        if (length + 1 >= targets.shape[1])
            return targets;
        var cut = targets[.., ..(length + 1)].clone();
        var last = cut[.., length];
        cut[.., length] = where(last.ge(0), full_like(last, endOfText), last);
        return cut;
    }

    /// <summary>ℓ of a chunk-length warm-up: 16 tokens at the start, growing linearly to L at <paramref name="fraction"/> of the run (multiples of 8).</summary>
    public static int WarmupLength(int chunkLength, double progress, double fraction) => SequenceWarmup.Length(16, chunkLength, progress, fraction, 8);

    /// <summary>n per row: the position of the last real token in the encoder's row (the targets hold n + 1 real entries).</summary>
    public static Tensor LastReal(Tensor targets) => targets.ge(0).sum(1) - 1;

    /// <summary>Summed cross-entropy of the real targets.</summary>
    public static Tensor LossSum(Tensor logits, Tensor targets)
        => functional.cross_entropy(logits.to(ScalarType.Float32).reshape(-1, logits.shape[2]), targets.reshape(-1),
                                    ignore_index: Ignored, reduction: Reduction.Sum);
}

/// <summary>
/// A causal decoder that regenerates a chunk from one memory vector, in one of two <see cref="MemoryDecoding"/> modes:
///   teacher-forced: logits = LM([W_m · m, E[c_0], ..., E[c_{L-1}]])   (position i sees the memory and c_0..c_{i-1})
///   unrolled:       logits = LM([W_m · s_0(m), ..., W_m · s_L(m)])      (no tokens: position i predicts c_i from the memory alone)
/// where s_i(m) = m[(i mod M) .. (i mod M) + M/2), cyclically, is position i's own slice of the memory (the paper's
/// unrolled decoder): identical inputs at every position would leave the positions to be told apart only by the small
/// position embeddings, and a masked mixer's token mixing of equal rows is a per-position scalar, so learning crawled.
/// Any architecture of the token-mixer family; the model adds its position embeddings to whichever inputs it reads.
/// </summary>
internal sealed class MemoryDecoder : Module<Tensor, Tensor, Tensor>
{
    private readonly Linear memoryProjection;
    private readonly LanguageModel model;

    /// <param name="memoryWidth">Length of the memory vector the decoder reads.</param>
    /// <param name="config">The decoder's language model; its context is the chunk plus one position (the memory token, or the end marker when unrolled).</param>
    /// <param name="decoding">How the memory is read: as a pseudo-token, or as each position's slice.</param>
    /// <param name="cyclicSlices">Unrolled only: each position reads its own cyclic slice of the memory (false: the whole
    /// memory at every position, as autoencoders saved before slices were introduced do).</param>
    public MemoryDecoder(int memoryWidth, LanguageModelConfig config, MemoryDecoding decoding = MemoryDecoding.TeacherForced, bool cyclicSlices = true)
        : base(nameof(MemoryDecoder))
    {
        if (!Enum.IsDefined(decoding))
            throw new ArgumentOutOfRangeException(nameof(decoding), decoding, "Unknown memory decoding.");
        MemoryWidth = memoryWidth;
        Config = config;
        Decoding = decoding;
        SliceWidth = decoding == MemoryDecoding.Unrolled && cyclicSlices ? Math.Max(1, memoryWidth / 2) : memoryWidth;
        memoryProjection = Linear(SliceWidth, config.Width);
        model = new LanguageModel(config);
        RegisterComponents();
    }

    public int MemoryWidth { get; }

    /// <summary>How many memory elements each position reads: M/2 for unrolled cyclic slices, else M.</summary>
    public int SliceWidth { get; }

    public bool CyclicSlices => Decoding == MemoryDecoding.Unrolled && SliceWidth != MemoryWidth;

    public LanguageModelConfig Config { get; }

    public MemoryDecoding Decoding { get; }

    public int ChunkLength => Config.ContextLength - 1;

    public void Initialize(int seed)
    {
        model.Initialize(seed);
        using var noGrad = no_grad();
        var generator = new Generator((ulong)seed + 1);
        double bound = 1 / Math.Sqrt(SliceWidth);
        memoryProjection.weight!.uniform_(-bound, bound, generator);
        memoryProjection.bias!.uniform_(-bound, bound, generator);
    }

    /// <summary>[B, M] memories and [B, L + 1] chunk rows (<see cref="MemoryChunks"/>) -> [B, L + 1, V] logits; unrolled reads only the rows' shape.</summary>
    public override Tensor forward(Tensor memory, Tensor tokens)
    {
        memory = memory.to(memoryProjection.weight!.dtype);
        if (Decoding == MemoryDecoding.TeacherForced)
            return model.Forward(tokens[.., 1..], memoryProjection.forward(memory).unsqueeze(1));
        // Every position reads the memory and no token: what the decoder gets right, the memory kept.
        long positions = tokens.shape[1];
        if (!CyclicSlices)
            return model.Forward(tokens[.., ..0], memoryProjection.forward(memory).unsqueeze(1).expand(-1, positions, -1));
        // index[i, j] = (i + j) mod M: row i is position i's slice.
        var index = (arange(positions, device: memory.device).unsqueeze(1) + arange(SliceWidth, device: memory.device).unsqueeze(0)).remainder(MemoryWidth);
        var slices = memory.index_select(1, index.flatten()).view(memory.shape[0], positions, SliceWidth);
        return model.Forward(tokens[.., ..0], memoryProjection.forward(slices));
    }

    /// <summary>Greedy regeneration of each memory's chunk, up to the end of text or L tokens.</summary>
    public List<int[]> Regenerate(Tensor memory, int endOfText)
    {
        using var noGrad = no_grad();
        int batch = (int)memory.shape[0];
        if (Decoding == MemoryDecoding.Unrolled)
        {
            using var scope = NewDisposeScope();
            // No token is read, so one pass predicts every position; the chunk stops at the first end of text.
            var all = forward(memory, zeros(batch, ChunkLength + 1, ScalarType.Int64, memory.device)).argmax(2).cpu().data<long>().ToArray();
            return Enumerable.Range(0, batch).Select(b => all.Skip(b * (ChunkLength + 1)).Take(ChunkLength)
                                                            .TakeWhile(t => t != endOfText).Select(t => (int)t).ToArray()).ToList();
        }
        var rows = new List<int>[batch];
        for (int b = 0; b < batch; b++)
            rows[b] = [];
        var done = new bool[batch];
        var tokens = full(batch, ChunkLength + 1, endOfText, ScalarType.Int64, memory.device);
        for (int i = 0; i <= ChunkLength && !done.All(d => d); i++)
        {
            using var scope = NewDisposeScope();
            // Causal: the logits at position i depend only on the memory and tokens before it, so the padding after is never read.
            var next = forward(memory, tokens)[.., i].argmax(1).cpu().data<long>().ToArray();
            for (int b = 0; b < batch; b++)
            {
                if (done[b])
                    continue;
                if (next[b] == endOfText || i == ChunkLength)
                {
                    done[b] = true;
                    continue;
                }
                rows[b].Add((int)next[b]);
                tokens[b, i + 1] = next[b];
            }
        }
        return rows.Select(r => r.ToArray()).ToList();
    }
}

/// <summary>Shape of a <see cref="MemoryAutoencoder"/>.</summary>
internal sealed record MemoryAutoencoderConfig(LanguageModelConfig Encoder, int MemoryWidth, LanguageModelConfig Decoder,
                                               MemoryDecoding Decoding = MemoryDecoding.TeacherForced, bool CyclicSlices = true)
{
    public int ChunkLength => Encoder.ContextLength - 1;

    public void Save(BinaryWriter w)
    {
        Encoder.Save(w);
        w.Write(MemoryWidth);
        Decoder.Save(w);
        w.Write((int)Decoding);
        w.Write(CyclicSlices);
    }

    /// <summary>
    /// Reads a saved config; <paramref name="withDecoding"/> false for zips written before the mode was recorded (all
    /// teacher-forced), <paramref name="withSlices"/> false for zips written before unrolled decoders read cyclic slices.
    /// </summary>
    public static MemoryAutoencoderConfig Load(BinaryReader r, bool withDecoding, bool withSlices)
    {
        var encoder = LanguageModelConfig.Load(r);
        int memoryWidth = r.ReadInt32();
        var decoder = LanguageModelConfig.Load(r);
        var decoding = withDecoding ? (MemoryDecoding)r.ReadInt32() : MemoryDecoding.TeacherForced;
        if (!Enum.IsDefined(decoding))
            throw Microsoft.ML.Runtime.Contracts.ExceptDecode($"The saved autoencoder's decoding mode {(int)decoding} is unknown.");
        bool slices = withSlices && r.ReadBoolean();
        return new(encoder, memoryWidth, decoder, decoding, slices);
    }
}

/// <summary>
/// A chunk autoencoder (Badger, "Language Model Memory and Memory Models for Language"): a causal encoder's final
/// hidden state at the chunk's last real position, through a bottleneck, is the chunk's one memory vector
///   m = W_b · H_enc(EOT c_0..c_{n-1})[n]
/// and a causal <see cref="MemoryDecoder"/> regenerates the chunk from it (unrolled in the paper: the memory alone).
/// </summary>
internal sealed class MemoryAutoencoder : Module<Tensor, Tensor, Tensor>
{
    private readonly LanguageModel encoder;
    private readonly Linear bottleneck;
    private readonly MemoryDecoder decoder;

    public MemoryAutoencoder(MemoryAutoencoderConfig config) : base(nameof(MemoryAutoencoder))
    {
        Config = config;
        encoder = new LanguageModel(config.Encoder);
        bottleneck = Linear(config.Encoder.Width, config.MemoryWidth);
        decoder = new MemoryDecoder(config.MemoryWidth, config.Decoder, config.Decoding, config.CyclicSlices);
        RegisterComponents();
    }

    public MemoryAutoencoderConfig Config { get; }

    public MemoryDecoder Decoder => decoder;

    public long ParameterCount => parameters().Sum(p => p.numel());

    public void Initialize(int seed)
    {
        encoder.Initialize(seed);
        decoder.Initialize(seed + 7919);
        using var noGrad = no_grad();
        var generator = new Generator((ulong)seed + 2);
        double bound = 1 / Math.Sqrt(Config.Encoder.Width);
        bottleneck.weight!.uniform_(-bound, bound, generator);
        bottleneck.bias!.uniform_(-bound, bound, generator);
    }

    /// <summary>[B, L + 1] chunk rows and each row's last real position n [B] -> memories [B, M].</summary>
    public Tensor Memory(Tensor tokens, Tensor lastReal) => bottleneck.forward(LastPosition(encoder.HiddenStates(tokens), lastReal));

    /// <summary>The hidden state [B, D] at each row's last real position of [B, T, D] hidden states.</summary>
    internal static Tensor LastPosition(Tensor hidden, Tensor lastReal)
        => hidden.gather(1, lastReal.view(-1, 1, 1).expand(-1, 1, hidden.shape[2])).squeeze(1);

    /// <summary>The encoder's and the bottleneck's weights, named "encoder.*" and "bottleneck.*" (what a memory language model can take over).</summary>
    internal IEnumerable<(string Name, Tensor Weight)> EncoderParameters()
        => encoder.named_parameters().Select(p => ("encoder." + p.name, (Tensor)p.parameter))
            .Concat(bottleneck.named_parameters().Select(p => ("bottleneck." + p.name, (Tensor)p.parameter)));

    /// <summary>Regeneration logits [B, L + 1, V] of chunk rows and their targets (which mark each row's length).</summary>
    public override Tensor forward(Tensor tokens, Tensor targets) => decoder.forward(Memory(tokens, MemoryChunks.LastReal(targets)), tokens);
}
