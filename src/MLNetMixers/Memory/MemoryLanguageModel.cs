using MLNetMixers.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace MLNetMixers.Memory;

/// <summary>Shape of a <see cref="MemoryLanguageModel"/>: the encoder, the memory width, the memory slots S and the decoder (context S + L + 1).</summary>
internal sealed record MemoryLanguageModelConfig(LanguageModelConfig Encoder, int MemoryWidth, int Memories, LanguageModelConfig Decoder)
{
    public int ChunkLength => Encoder.ContextLength - 1;

    public void Save(BinaryWriter w)
    {
        Encoder.Save(w);
        w.Write(MemoryWidth);
        w.Write(Memories);
        Decoder.Save(w);
    }

    public static MemoryLanguageModelConfig Load(BinaryReader r)
        => new(LanguageModelConfig.Load(r), r.ReadInt32(), r.ReadInt32(), LanguageModelConfig.Load(r));
}

/// <summary>What the decoder is asked to do with a chunk row: predict its next tokens, or regenerate a remembered chunk.</summary>
internal enum MemoryReadMode
{
    Causal = 0,
    Copy = 1,
}

/// <summary>
/// The decoder side of a memory language model: S memory slots, a mode vector, then the chunk's tokens,
///   logits = LM([P·m_0, ..., P·m_{k-1}, e, ..., e, mode, c_0, ..., c_{L-1}])[S:]
/// where the first k slots hold the memories of the previous chunks (oldest first) and the rest the learned empty
/// slot e. Position S + i sees the memories and c_0..c_{i-1} only, so it predicts c_i causally.
/// </summary>
internal sealed class MemoryReader : Module
{
    private readonly Linear projection;
    private readonly Parameter empty;
    private readonly Embedding mode;
    private readonly LanguageModel decoder;

    public MemoryReader(int memoryWidth, int memories, LanguageModelConfig config) : base(nameof(MemoryReader))
    {
        Memories = memories;
        projection = Linear(memoryWidth, config.Width);
        empty = Parameter(zeros(config.Width));
        mode = Embedding(2, config.Width);
        decoder = new LanguageModel(config);
        RegisterComponents();
    }

    public int Memories { get; }

    public LanguageModelConfig Config => decoder.Config;

    public void Initialize(int seed)
    {
        decoder.Initialize(seed);
        using var noGrad = no_grad();
        var generator = new Generator((ulong)seed + 11);
        double bound = 1 / Math.Sqrt(projection.weight!.shape[1]);
        projection.weight!.uniform_(-bound, bound, generator);
        projection.bias!.uniform_(-bound, bound, generator);
        empty.normal_(0, 1, generator);
        mode.weight!.normal_(0, 1, generator);
    }

    /// <summary>
    /// [B, S, M] memories of which the first <paramref name="filled"/> [B] are real, the mode [B], and [B, L + 1] chunk
    /// rows (<see cref="MemoryChunks"/>; the leading end of text is replaced by the mode vector) -> logits [B, L + 1, V].
    /// </summary>
    public Tensor Logits(Tensor memories, Tensor filled, Tensor readMode, Tensor tokens)
    {
        var modeVector = mode.forward(readMode).unsqueeze(1);
        Tensor prefix;
        if (Memories == 0)
        {
            prefix = modeVector;
        }
        else
        {
            var projected = projection.forward(memories.to(projection.weight!.dtype));
            var real = arange(Memories, device: filled.device).unsqueeze(0).lt(filled.unsqueeze(1)).unsqueeze(2);
            prefix = cat([where(real, projected, empty.view(1, 1, -1).to(projected.dtype)), modeVector.to(projected.dtype)], 1);
        }
        return decoder.Forward(tokens[.., 1..], prefix)[.., Memories..];
    }
}

/// <summary>
/// A memory language model (Badger, "Language Model Memory and Memory Models for Language"): text is cut into chunks of
/// L tokens, each chunk is remembered as one vector (a causal encoder's last hidden state through a bottleneck, as in
/// <see cref="MemoryAutoencoder"/>), and a causal <see cref="MemoryReader"/> predicts chunk k from its own prefix and the
/// memories of the S chunks before it, prepended as pseudo-tokens. Chunk k never reads its own memory or a later one.
/// </summary>
internal sealed class MemoryLanguageModel : Module
{
    private readonly LanguageModel encoder;
    private readonly Linear bottleneck;
    private readonly MemoryReader reader;

    public MemoryLanguageModel(MemoryLanguageModelConfig config) : base(nameof(MemoryLanguageModel))
    {
        Config = config;
        encoder = new LanguageModel(config.Encoder);
        bottleneck = Linear(config.Encoder.Width, config.MemoryWidth);
        reader = new MemoryReader(config.MemoryWidth, config.Memories, config.Decoder);
        RegisterComponents();
    }

    public MemoryLanguageModelConfig Config { get; }

    public MemoryReader Reader => reader;

    public long ParameterCount => parameters().Sum(p => p.numel());

    public void Initialize(int seed)
    {
        encoder.Initialize(seed);
        reader.Initialize(seed + 7919);
        using var noGrad = no_grad();
        var generator = new Generator((ulong)seed + 2);
        double bound = 1 / Math.Sqrt(Config.Encoder.Width);
        bottleneck.weight!.uniform_(-bound, bound, generator);
        bottleneck.bias!.uniform_(-bound, bound, generator);
    }

    /// <summary>Takes the encoder and bottleneck of a trained autoencoder (same encoder shape and memory width).</summary>
    public void CopyEncoderFrom(MemoryAutoencoder autoencoder)
    {
        using var noGrad = no_grad();
        var targets = encoder.named_parameters().Select(p => ("encoder." + p.name, p.parameter))
            .Concat(bottleneck.named_parameters().Select(p => ("bottleneck." + p.name, p.parameter)))
            .ToDictionary(p => p.Item1, p => p.parameter);
        foreach (var (name, source) in autoencoder.EncoderParameters())
            targets[name].copy_(source);
    }

    /// <summary>[B, L + 1] chunk rows and each row's last real position [B] -> memories [B, M] (<see cref="MemoryAutoencoder.Memory"/>).</summary>
    public Tensor Memory(Tensor tokens, Tensor lastReal)
        => bottleneck.forward(MemoryAutoencoder.LastPosition(encoder.HiddenStates(tokens), lastReal));
}

/// <summary>
/// The training data of a memory language model: every document's chunks, grouped into windows of S + 1 consecutive
/// chunks (the last window of a document may be shorter). Chunk c of a window reads the memories of chunks 0..c−1.
/// </summary>
/// <remarks>
/// Causal targets: a chunk's tokens, and the end of text after the document's last chunk only (a full chunk in the
/// middle of a document has no target at position L; the next chunk's first token is predicted by the next chunk).
/// Copy targets: a chunk's tokens and the end of text after them (<see cref="MemoryChunks.Rows"/>), regenerated by the
/// decoder in copy mode from the memories up to and including that chunk's.
/// </remarks>
internal sealed class MemoryWindows : IDisposable
{
    public MemoryWindows(IReadOnlyList<int[]> documents, int chunkLength, int memories, int endOfText, Device device)
    {
        ChunkLength = chunkLength;
        Memories = memories;
        int n = memories + 1;
        var chunks = new List<int[]>();
        var lastOfDocument = new List<bool>();
        var positions = new List<int>();
        var windows = new List<long>();
        foreach (var document in documents)
        {
            var split = MemoryChunks.Split(document, chunkLength).ToList();
            for (int start = 0; start < split.Count; start += n)
            {
                for (int c = 0; c < n; c++)
                    windows.Add(start + c < split.Count ? chunks.Count + start + c : -1);
            }
            for (int i = 0; i < split.Count; i++)
            {
                chunks.Add(split[i]);
                lastOfDocument.Add(i == split.Count - 1);
                positions.Add(i);
            }
        }
        ChunkCount = chunks.Count;
        Positions = positions.ToArray();
        (Tokens, CopyTargets) = MemoryChunks.Rows(chunks, chunkLength, endOfText, device);
        CausalTargets = CopyTargets.clone();
        for (int i = 0; i < chunks.Count; i++)
            if (!lastOfDocument[i] && chunks[i].Length == chunkLength)
                CausalTargets[i, chunkLength] = MemoryChunks.Ignored;
        Windows = tensor(windows.ToArray(), [windows.Count / n, n], device: device);
    }

    public int ChunkLength { get; }

    public int Memories { get; }

    public int ChunkCount { get; }

    /// <summary>Each chunk's index within its document.</summary>
    public int[] Positions { get; }

    /// <summary>[C, L + 1] chunk rows.</summary>
    public Tensor Tokens { get; }

    /// <summary>[C, L + 1] regeneration targets (the chunk and its end).</summary>
    public Tensor CopyTargets { get; }

    /// <summary>[C, L + 1] next-token targets.</summary>
    public Tensor CausalTargets { get; }

    /// <summary>[W, S + 1] chunk indices of each window, −1 past a document's end.</summary>
    public Tensor Windows { get; }

    /// <summary>
    /// Each window's targets for <paramref name="objective"/>, one row: the causal targets of its S + 1 chunks and/or the
    /// copy targets of its first S chunks, −1 where the window has no chunk. The training loop counts the real entries.
    /// </summary>
    public Tensor Targets(MemoryObjective objective)
    {
        using var scope = NewDisposeScope();
        var valid = Windows.ge(0).unsqueeze(2);
        var index = Windows.clamp_min(0);
        Tensor Gather(Tensor targets, Tensor idx, Tensor ok)
            => where(ok, targets.index_select(0, idx.reshape(-1)).view(idx.shape[0], idx.shape[1], ChunkLength + 1), MemoryChunks.Ignored).reshape(idx.shape[0], -1);
        var causal = Gather(CausalTargets, index, valid);
        var copy = Gather(CopyTargets, index[.., ..Memories], valid[.., ..Memories]);
        var result = objective switch
        {
            MemoryObjective.Causal => causal,
            MemoryObjective.Copy => copy,
            _ => cat([causal, copy], 1),
        };
        return result.DetachFromDisposeScope();
    }

    /// <summary>
    /// Summed loss of windows (int64 indices [b]) against their <see cref="Targets"/> rows [b, ·]. <paramref name="bank"/>
    /// holds every chunk's memory when the encoder is frozen; otherwise the memories are computed (and trained) here.
    /// </summary>
    public Tensor LossSum(MemoryLanguageModel model, Tensor? bank, MemoryObjective objective, Tensor windows, Tensor targets)
    {
        int s = Memories, n = s + 1, width = ChunkLength + 1;
        long b = windows.shape[0];
        var index = Windows.index_select(0, windows).clamp_min(0);
        var tokens = Tokens.index_select(0, index.reshape(-1)).view(b, n, width);
        var device = tokens.device;
        Tensor memory;
        if (s == 0)
        {
            memory = zeros(b, 0, model.Config.MemoryWidth, device: device);
        }
        else
        {
            var encoded = index[.., ..s].reshape(-1);
            memory = (bank is null
                ? model.Memory(tokens[.., ..s].reshape(b * s, width), MemoryChunks.LastReal(CopyTargets.index_select(0, encoded)))
                : bank.index_select(0, encoded)).view(b, s, -1);
        }
        // Every chunk row of the window reads the window's memories (the mask in Logits hides those it may not see).
        Tensor Repeat(int rows) => s == 0 ? zeros(b * rows, 0, model.Config.MemoryWidth, device: device)
                                          : memory.unsqueeze(1).expand(b, rows, s, -1).reshape(b * rows, s, -1);
        Tensor loss = zeros(1, device: device).sum();
        int at = 0;
        if (objective != MemoryObjective.Copy)
        {
            // Chunk c of the window reads the memories of chunks 0..c-1.
            var filled = arange(n, ScalarType.Int64, device).repeat(b);
            var logits = model.Reader.Logits(Repeat(n), filled,
                                             full(b * n, (long)MemoryReadMode.Causal, device: device), tokens.reshape(b * n, width));
            loss = loss + MemoryChunks.LossSum(logits, targets[.., ..(n * width)].reshape(b * n, width));
            at = n * width;
        }
        if (objective != MemoryObjective.Causal && s > 0)
        {
            // Chunk c of the first S is regenerated from the memories of chunks 0..c, its own the most recent.
            var filled = arange(1, s + 1, ScalarType.Int64, device).repeat(b);
            var logits = model.Reader.Logits(Repeat(s), filled,
                                             full(b * s, (long)MemoryReadMode.Copy, device: device), tokens[.., ..s].reshape(b * s, width));
            loss = loss + MemoryChunks.LossSum(logits, targets[.., at..(at + s * width)].reshape(b * s, width));
        }
        return loss;
    }

    /// <summary>Every chunk's memory [C, M], computed in batches without gradient.</summary>
    public Tensor Bank(MemoryLanguageModel model)
    {
        using var noGrad = no_grad();
        var parts = new List<Tensor>();
        for (int start = 0; start < ChunkCount; start += 64)
        {
            // Each batch's hidden states are freed at once: left to the finalizers, a corpus of 150k chunks grew past 23 GB.
            using var scope = NewDisposeScope();
            int count = Math.Min(64, ChunkCount - start);
            parts.Add(model.Memory(Tokens.narrow(0, start, count), MemoryChunks.LastReal(CopyTargets.narrow(0, start, count)))
                           .to(ScalarType.Float32).MoveToOuterDisposeScope());
        }
        if (parts.Count == 0)
            return zeros(0, model.Config.MemoryWidth);
        var bank = cat(parts, 0);
        foreach (var part in parts)
            part.Dispose();
        return bank;
    }

    public void Dispose()
    {
        Tokens.Dispose();
        CopyTargets.Dispose();
        CausalTargets.Dispose();
        Windows.Dispose();
    }
}
