using MLNetMixers.Models;
using MLNetMixers.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetMixers.Retrieval;

/// <summary>
/// One tower: a causal language model, its tokenizer and a pooling, turning texts into L2-normalised embeddings
///   e(text) = normalize(pool(H(EOT · tokens(text)))),   H = the model's final normalised hidden states.
/// Every text starts after an end of text, as the model saw documents in language-model training, and is cut to
/// the context length (its start is kept).
/// </summary>
internal sealed class TextEmbedder : IDisposable
{
    public TextEmbedder(LanguageModel model, TextTokenizer tokenizer, EmbeddingPooling pooling, Device device)
    {
        Model = model;
        Tokenizer = tokenizer;
        Pooling = pooling;
        Device = device;
    }

    public LanguageModel Model { get; }

    public TextTokenizer Tokenizer { get; }

    public EmbeddingPooling Pooling { get; }

    public Device Device { get; }

    public int Dimension => Model.Config.Width;

    /// <summary>Token ids of one text as the tower reads it: [EOT] text [EOT when pooling there], at most n_ctx ids.</summary>
    public int[] Encode(string text)
    {
        int n = Model.Config.ContextLength;
        int[] body = Tokenizer.Encode(text);
        bool endMarker = Pooling == EmbeddingPooling.EndOfText;
        int keep = Math.Min(body.Length, n - 1 - (endMarker ? 1 : 0));
        var ids = new int[1 + keep + (endMarker ? 1 : 0)];
        ids[0] = Tokenizer.EndOfText;
        Array.Copy(body, 0, ids, 1, keep);
        if (endMarker)
            ids[^1] = Tokenizer.EndOfText;
        return ids;
    }

    /// <summary>Embeddings [B, D] (unit length) of already encoded texts; differentiable when grad mode is on.</summary>
    public Tensor Embed(IReadOnlyList<int[]> encoded)
    {
        int batch = encoded.Count;
        int length = encoded.Max(e => e.Length);
        var ids = new long[batch * length];
        var lengths = new long[batch];
        var mask = new float[batch * length];
        for (int b = 0; b < batch; b++)
        {
            var e = encoded[b];
            lengths[b] = e.Length;
            for (int t = 0; t < length; t++)
            {
                // Right padding with end of text: causal positions before it never see it.
                ids[b * length + t] = t < e.Length ? e[t] : Tokenizer.EndOfText;
                mask[b * length + t] = t < e.Length ? 1 : 0;
            }
        }
        var tokens = tensor(ids, [batch, length], device: Device);
        var hidden = Model.HiddenStates(tokens);                       // [B, T, D]
        Tensor pooled;
        if (Pooling == EmbeddingPooling.Mean)
        {
            var weights = tensor(mask, [batch, length, 1], device: Device);
            pooled = (hidden * weights).sum(1) / tensor(lengths, device: Device).to(ScalarType.Float32).unsqueeze(1);
        }
        else
        {
            var last = (tensor(lengths, device: Device) - 1).view(batch, 1, 1).expand(batch, 1, hidden.shape[2]);
            pooled = hidden.gather(1, last).squeeze(1);
        }
        return nn.functional.normalize(pooled.to(ScalarType.Float32), p: 2, dim: 1);
    }

    /// <summary>Embeddings of many texts in batches, without gradients, as rows of one float array [N·D].</summary>
    public float[] EmbedAll(IReadOnlyList<string> texts, int batchSize = 32, Action<int>? progress = null)
    {
        int d = Dimension;
        var result = new float[texts.Count * d];
        bool wasTraining = Model.training;
        Model.eval();
        try
        {
            using var noGrad = no_grad();
            // Sorting by length keeps padding small; results go back to each text's row.
            var encoded = texts.Select(Encode).ToArray();
            var order = Enumerable.Range(0, texts.Count).OrderBy(i => encoded[i].Length).ToArray();
            for (int start = 0; start < order.Length; start += batchSize)
            {
                using var scope = NewDisposeScope();
                var rows = order.AsSpan(start, Math.Min(batchSize, order.Length - start)).ToArray();
                var embedded = Embed(rows.Select(i => encoded[i]).ToArray()).cpu();
                var values = embedded.data<float>().ToArray();
                for (int r = 0; r < rows.Length; r++)
                    Array.Copy(values, r * d, result, rows[r] * d, d);
                progress?.Invoke(start + rows.Length);
            }
        }
        finally
        {
            if (wasTraining)
                Model.train();
        }
        return result;
    }

    /// <summary>A tower with its own copy of the weights (the model is not shared, so each owner disposes its own).</summary>
    public TextEmbedder Clone(EmbeddingPooling? pooling = null)
    {
        var copy = new LanguageModel(Model.Config);
        using (no_grad())
        {
            var source = Model.state_dict();
            foreach (var (name, tensor) in copy.state_dict())
                tensor.copy_(source[name]);
        }
        copy.to(Device);
        copy.eval();
        return new TextEmbedder(copy, Tokenizer, pooling ?? Pooling, Device);
    }

    public void Dispose() => Model.Dispose();
}
