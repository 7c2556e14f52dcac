using MLNetMixers.Models;
using static TorchSharp.torch;

namespace MLNetMixers.Compression;

/// <summary>
/// Runs a language model over several independent token streams ("lanes") in lock step, one position at a time:
/// every lane starts from end of text, each <see cref="Advance"/> is one batched <see cref="LanguageModel.Step"/>,
/// and when the context is full every lane keeps its last n_ctx/2 tokens and is prefilled again (the window rule of
/// generation). The compressor's encoder and decoder both drive this class with the same tokens, so they see
/// bit-identical logits: the same shapes, the same kernels, in the same order.
/// </summary>
internal sealed class ModelLanes : IDisposable
{
    private readonly LanguageModel model;
    private readonly Device device;
    private readonly int contextLength;
    private readonly int keep;
    private readonly List<int>[] contexts;
    private DecodingCache[] caches;
    private float[] probabilities = [];

    public ModelLanes(LanguageModel model, Device device, int lanes, int startToken)
    {
        this.model = model;
        this.device = device;
        contextLength = model.Config.ContextLength;
        keep = KeptAfterSlide(contextLength);
        Vocabulary = model.Config.VocabularySize;
        contexts = Enumerable.Range(0, lanes).Select(_ => new List<int>(contextLength + 1) { startToken }).ToArray();
        caches = model.NewCaches();
        Run(prefill: true);
    }

    public int Vocabulary { get; }

    /// <summary>Tokens a window keeps when it slides: the last n_ctx/2.</summary>
    public static int KeptAfterSlide(int contextLength) => Math.Max(1, contextLength / 2);

    /// <summary>The probabilities of lane <paramref name="lane"/>'s next token (torch's float32 softmax of the logits).</summary>
    public ReadOnlySpan<float> Probabilities(int lane) => probabilities.AsSpan(lane * Vocabulary, Vocabulary);

    /// <summary>
    /// Starts a window of an encoder-augmented model in every lane: the context becomes [memory, previous token], so the
    /// next logits are those of the window's first token; the window ends before the context fills.
    /// </summary>
    /// <param name="memory">[lanes, 1, D] memory tokens.</param>
    /// <param name="previous">Each lane's last token before the window.</param>
    public void Restart(Tensor memory, ReadOnlySpan<int> previous)
    {
        for (int lane = 0; lane < contexts.Length; lane++)
        {
            contexts[lane].Clear();
            contexts[lane].Add(previous[lane]);
        }
        DisposeCaches();
        caches = model.NewCaches();
        Run(prefill: true, memory);
    }

    /// <summary>Feeds one token per lane and computes every lane's next logits.</summary>
    public void Advance(ReadOnlySpan<int> tokens)
    {
        bool full = contexts[0].Count == contextLength;
        for (int lane = 0; lane < contexts.Length; lane++)
        {
            var context = contexts[lane];
            context.Add(tokens[lane]);
            if (context.Count > contextLength)
                context.RemoveRange(0, context.Count - (full ? keep : contextLength));
        }
        if (full)
        {
            DisposeCaches();
            caches = model.NewCaches();
        }
        Run(prefill: full);
    }

    private void Run(bool prefill, Tensor? prefix = null)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        int length = prefill ? contexts[0].Count : 1;
        var ids = new long[contexts.Length * length];
        for (int lane = 0; lane < contexts.Length; lane++)
        {
            var context = contexts[lane];
            for (int i = 0; i < length; i++)
                ids[lane * length + i] = context[context.Count - length + i];
        }
        var batch = tensor(ids, [contexts.Length, length], device: device);
        var output = prefill ? model.Prefill(batch, caches, prefix) : model.Step(batch, caches);
        // The softmax runs in torch, vectorised; the same shapes on both sides keep it bit-identical.
        probabilities = nn.functional.softmax(output.to(float32), dim: -1).cpu().data<float>().ToArray();
    }

    private void DisposeCaches()
    {
        foreach (var cache in caches)
            cache.Dispose();
    }

    public void Dispose() => DisposeCaches();
}
