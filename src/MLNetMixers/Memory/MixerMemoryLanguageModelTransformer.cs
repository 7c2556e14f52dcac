using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNetMixers;
using MLNetMixers.Memory;
using MLNetMixers.Persistence;
using MLNetMixers.Text;
using MLNetMixers.Training;
using TorchSharp;
using static TorchSharp.torch;

[assembly: LoadableClass(typeof(MixerMemoryLanguageModelTransformer), null, typeof(SignatureLoadModel),
    "Mixer memory language model", MixerMemoryLanguageModelTransformer.LoaderSignature)]
[assembly: LoadableClass(typeof(IRowMapper), typeof(MixerMemoryLanguageModelTransformer), null, typeof(SignatureLoadRowMapper),
    "Mixer memory language model", MixerMemoryLanguageModelTransformer.LoaderSignature)]

namespace MLNetMixers;

/// <summary>
/// A trained memory language model: scores texts (a <c>Single</c> column, nats per token, each chunk reading the memories
/// of the chunks before it), evaluates held-out text with and without its memories, and generates text whose chunk k + 1
/// reads the memories of chunks ≤ k. Immutable; saves into and loads from the ML.NET model zip.
/// </summary>
public sealed class MixerMemoryLanguageModelTransformer : MixerTextModelTransformer
{
    internal const string LoaderSignature = "MixerMemoryLM";
    private const string WeightsStream = "MemoryLanguageModelWeights";
    private const int Batch = 32;

    private readonly MemoryLanguageModel model;

    internal MixerMemoryLanguageModelTransformer(IHostEnvironment env, MemoryLanguageModel model, TextTokenizer tokenizer, Device device,
                                                 string inputColumnName, string lossColumnName)
        : base(env, nameof(MixerMemoryLanguageModelTransformer), GetVersionInfo(), WeightsStream, model, tokenizer, device, inputColumnName, lossColumnName)
    {
        this.model = model;
    }

    internal MemoryLanguageModel Model => model;

    /// <summary>Tokens per chunk (one memory each).</summary>
    public int ChunkLength => model.Config.ChunkLength;

    /// <summary>Length of each memory vector.</summary>
    public int MemoryWidth => model.Config.MemoryWidth;

    /// <summary>Memories of previous chunks the decoder reads.</summary>
    public int Memories => model.Config.Memories;

    /// <summary>Token mixer of the decoder.</summary>
    public MixerLanguageModelArchitecture Architecture => model.Config.Decoder.Architecture;

    /// <summary>Trainable weights of encoder, bottleneck and decoder.</summary>
    public long ParameterCount => model.ParameterCount;

    /// <summary>
    /// Held-out cross-entropy, one document per row: every token of every chunk predicted once, reading the memories of
    /// up to <see cref="Memories"/> chunks before it; the same without any memory; and how well chunks are regenerated from them.
    /// </summary>
    /// <param name="heldOut">Data with a scalar String column.</param>
    /// <param name="textColumnName">The text column; null means the training column.</param>
    public MemoryLanguageModelMetrics Evaluate(IDataView heldOut, string? textColumnName = null)
    {
        Host.CheckValue(heldOut, nameof(heldOut));
        var documents = MixerLanguageModelEstimator.ReadDocuments(heldOut, textColumnName ?? InputColumnName);
        if (documents.Count == 0)
            throw Host.ExceptParam(nameof(heldOut), "The held-out data has no rows.");
        return Evaluate(documents);
    }

    internal MemoryLanguageModelMetrics Evaluate(IReadOnlyList<string> documents)
    {
        lock (Gate)
        {
            using var noGrad = no_grad();
            int s = Memories, width = ChunkLength + 1;
            using var windows = new MemoryWindows(documents.Select(Tokenizer.Encode).ToList(), ChunkLength, s, Tokenizer.EndOfText, Device);
            using var bank = windows.Bank(model).to(Device);
            double loss = 0, bare = 0, copy = 0;
            long tokens = 0, copyTokens = 0, copyRight = 0;
            for (int start = 0; start < windows.ChunkCount; start += Batch)
            {
                using var scope = NewDisposeScope();
                int n = Math.Min(Batch, windows.ChunkCount - start);
                var rows = windows.Tokens.narrow(0, start, n);
                var causal = windows.CausalTargets.narrow(0, start, n);
                var copyTargets = windows.CopyTargets.narrow(0, start, n);
                // Chunk k reads chunks k-S..k-1 of its document; in copy mode k-S+1..k.
                var (before, filled) = MemoryIndices(windows.Positions, start, n, s, includeSelf: false);
                var (upTo, copyFilled) = MemoryIndices(windows.Positions, start, n, s, includeSelf: true);
                var mode = full(n, (long)MemoryReadMode.Causal, device: Device);
                loss += MemoryChunks.LossSum(model.Reader.Logits(Gather(bank, before, n, s), filled, mode, rows), causal).item<float>();
                bare += MemoryChunks.LossSum(model.Reader.Logits(Gather(bank, before, n, s), zeros_like(filled), mode, rows), causal).item<float>();
                tokens += causal.ge(0).sum().item<long>();
                if (s > 0)
                {
                    var logits = model.Reader.Logits(Gather(bank, upTo, n, s), copyFilled, full(n, (long)MemoryReadMode.Copy, device: Device), rows);
                    copy += MemoryChunks.LossSum(logits, copyTargets).item<float>();
                    var real = copyTargets.ge(0);
                    copyRight += logits.argmax(2).eq(copyTargets).logical_and(real).sum().item<long>();
                    copyTokens += real.sum().item<long>();
                }
            }
            return new MemoryLanguageModelMetrics(loss / tokens, bare / tokens, s > 0 ? copy / copyTokens : double.NaN,
                                                  s > 0 ? copyRight / (double)copyTokens : double.NaN, tokens);
        }
    }

    /// <summary>For chunks start..start+n−1: the global indices [n, S] of the memories each reads (oldest first, −1 after the last) and their count [n].</summary>
    private (Tensor Indices, Tensor Filled) MemoryIndices(int[] positions, int start, int n, int s, bool includeSelf)
    {
        var indices = new long[n * Math.Max(s, 1)];
        var filled = new long[n];
        Array.Fill(indices, -1L);
        for (int i = 0; i < n; i++)
        {
            int chunk = start + i, end = includeSelf ? chunk : chunk - 1;
            int count = Math.Min(s, positions[chunk] + (includeSelf ? 1 : 0));
            for (int j = 0; j < count; j++)
                indices[i * s + j] = end - count + 1 + j;
            filled[i] = count;
        }
        return (tensor(indices, [n, Math.Max(s, 1)], device: Device)[.., ..s], tensor(filled, device: Device));
    }

    private static Tensor Gather(Tensor bank, Tensor indices, int n, int s)
        => s == 0 ? zeros(n, 0, bank.shape[1], device: bank.device) : bank.index_select(0, indices.clamp_min(0).reshape(-1)).view(n, s, -1);

    /// <summary>
    /// Continues <paramref name="prompt"/>: the prompt's complete chunks become memories, and whenever the current chunk
    /// fills its <see cref="ChunkLength"/> tokens it is remembered and a new one begins, so chunk k + 1 is written reading
    /// the memories of chunks ≤ k (the last <see cref="Memories"/> of them). Stops at end of text, a stop sequence or
    /// <see cref="TextGenerationOptions.MaxNewTokens"/>.
    /// </summary>
    /// <returns>The generated text only.</returns>
    public string Generate(string prompt, TextGenerationOptions? options = null)
    {
        Host.CheckValue(prompt, nameof(prompt));
        options ??= new TextGenerationOptions();
        options.Validate();
        var random = new Random(options.Seed);
        var ids = Tokenizer.Encode(prompt);
        int complete = ids.Length / ChunkLength * ChunkLength;
        var memories = new List<Tensor>();
        var current = ids[complete..].ToList();
        var generated = new List<int>();
        lock (Gate)
        {
            using var noGrad = no_grad();
            try
            {
                foreach (var chunk in MemoryChunks.Split(ids[..complete], ChunkLength).Where(c => c.Length > 0))
                    Remember(memories, chunk);
                while (generated.Count < options.MaxNewTokens)
                {
                    var logits = NextLogits(memories, current);
                    int next = TextGenerator.Sample(logits, options, random);
                    if (next == Tokenizer.EndOfText)
                        break;
                    generated.Add(next);
                    current.Add(next);
                    if (options.StopSequences.Length > 0 && options.StopSequences.Any(Tokenizer.Decode(generated).Contains))
                        break;
                    if (current.Count == ChunkLength)
                    {
                        Remember(memories, current.ToArray());
                        current.Clear();
                    }
                }
            }
            finally
            {
                foreach (var memory in memories)
                    memory.Dispose();
            }
        }
        string text = Tokenizer.Decode(generated);
        int stop = options.StopSequences.Select(x => text.IndexOf(x, StringComparison.Ordinal)).Where(i => i >= 0).DefaultIfEmpty(-1).Min();
        return stop >= 0 ? text[..stop] : text;
    }

    private void Remember(List<Tensor> memories, int[] chunk)
    {
        using var scope = NewDisposeScope();
        var (tokens, targets) = MemoryChunks.Rows([chunk], ChunkLength, Tokenizer.EndOfText, Device);
        memories.Add(model.Memory(tokens, MemoryChunks.LastReal(targets)).to(ScalarType.Float32).DetachFromDisposeScope());
        if (memories.Count > Memories)
        {
            memories[0].Dispose();
            memories.RemoveAt(0);
        }
    }

    /// <summary>The logits [V] after <paramref name="current"/> (fewer than L tokens), reading the remembered chunks.</summary>
    internal float[] NextLogits(IReadOnlyList<Tensor> memories, IReadOnlyList<int> current)
    {
        using var scope = NewDisposeScope();
        var (tokens, _) = MemoryChunks.Rows([current.ToArray()], ChunkLength, Tokenizer.EndOfText, Device);
        int s = Memories;
        var slots = memories.Count > 0
            ? cat(memories.Concat(Enumerable.Repeat(zeros(1, MemoryWidth, device: Device), s - memories.Count)).ToArray(), 0).unsqueeze(0)
            : zeros(1, s, MemoryWidth, device: Device);
        var logits = model.Reader.Logits(slots, tensor(new long[] { memories.Count }, device: Device),
                                         full(1, (long)MemoryReadMode.Causal, device: Device), tokens);
        return logits[0, current.Count].to(ScalarType.Float32).cpu().data<float>().ToArray();
    }

    private static VersionInfo GetVersionInfo() => new(
        modelSignature: "MXMEMLM_",
        verWrittenCur: 0x00010001,
        verReadableCur: 0x00010001,
        verWeCanReadBack: 0x00010001,
        loaderSignature: LoaderSignature,
        loaderAssemblyName: typeof(MixerMemoryLanguageModelTransformer).Assembly.FullName);

    private protected override void SaveShape(BinaryWriter writer) => model.Config.Save(writer);

    private static MixerMemoryLanguageModelTransformer Create(IHostEnvironment env, ModelLoadContext ctx)
    {
        Contracts.CheckValue(env, nameof(env));
        var (input, output) = LoadColumns(ctx, GetVersionInfo());
        var config = MemoryLanguageModelConfig.Load(ctx.Reader);
        var (model, tokenizer, device) = LoadWeights(env, ctx, WeightsStream, config.Decoder.VocabularySize, () => new MemoryLanguageModel(config));
        return new MixerMemoryLanguageModelTransformer(env, model, tokenizer, device, input, output);
    }

    private static IRowMapper Create(IHostEnvironment env, ModelLoadContext ctx, DataViewSchema inputSchema)
        => Create(env, ctx).MakeRowMapper(inputSchema);

    private protected override DataViewType OutputType => NumberDataViewType.Single;

    private protected override Delegate MakeGetter(DataViewRow input, int textIndex)
    {
        var loss = TextColumn.PerRow(input, textIndex, text => (float)Evaluate([text]).Loss);
        ValueGetter<float> getter = (ref float dst) => dst = loss();
        return getter;
    }
}
