using System.Text;
using MLNetMixers.Models;
using MLNetMixers.Text;
using static TorchSharp.torch;

namespace MLNetMixers.Compression;

/// <summary>
/// The bits each token of a text costs under a language model: −log2 p(token | end of text + the tokens before it).
/// Texts longer than the context are read in the windows <see cref="ModelLanes"/> slides through (each window keeps
/// the last n_ctx/2 tokens of the previous one), so these are the code lengths the compressor approaches.
/// </summary>
internal static class SurprisalScorer
{
    /// <summary>Bits of each token of <paramref name="tokens"/>, predicted after end of text.</summary>
    public static float[] Score(LanguageModel model, int endOfText, IReadOnlyList<int> tokens, Device device)
    {
        var bits = new float[tokens.Count];
        if (tokens.Count == 0)
            return bits;
        var stream = new long[tokens.Count + 1];
        stream[0] = endOfText;
        for (int i = 0; i < tokens.Count; i++)
            stream[i + 1] = tokens[i];
        int n = model.Config.ContextLength;
        int stride = n + 1 - ModelLanes.KeptAfterSlide(n);
        int scored = 0; // stream positions 1..scored are done
        using var noGrad = no_grad();
        for (int start = 0; scored < tokens.Count; start += stride)
        {
            using var scope = NewDisposeScope();
            int length = Math.Min(n, tokens.Count - start);
            var window = tensor(stream.AsSpan(start, length + 1).ToArray(), [1, length + 1], device: device);
            var logProbabilities = nn.functional.log_softmax(model.forward(window[.., ..length]).to(float32), dim: -1);
            var picked = logProbabilities.gather(-1, window[.., 1..].unsqueeze(-1)).reshape(-1).cpu().data<float>().ToArray();
            for (int j = 0; j < length; j++)
            {
                int position = start + 1 + j;
                if (position > scored)
                    bits[position - 1] = (float)(-picked[j] / Math.Log(2));
            }
            scored = start + length;
        }
        return bits;
    }

    /// <summary>
    /// Readable pieces of <paramref name="text"/> with their bits. A character tokenizer's tokens are the text's UTF-16
    /// units (unknown ones included), so pieces are cut from the text itself, a surrogate pair kept whole; otherwise
    /// consecutive tokens are joined until they decode to whole characters (a byte tokenizer's multi-byte characters).
    /// </summary>
    public static List<SurprisalSpan> Spans(TextTokenizer tokenizer, string text, IReadOnlyList<int> tokens, IReadOnlyList<float> bits)
    {
        var spans = new List<SurprisalSpan>();
        if (tokenizer is CharacterTokenizer && text.Length == tokens.Count)
        {
            for (int i = 0; i < tokens.Count; i++)
            {
                bool pair = char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]);
                spans.Add(pair ? new SurprisalSpan(text.Substring(i, 2), bits[i] + (double)bits[i + 1], 2) : new SurprisalSpan(text[i].ToString(), bits[i], 1));
                i += pair ? 1 : 0;
            }
            return spans;
        }
        var pending = new List<int>();
        double pendingBits = 0;
        for (int i = 0; i < tokens.Count; i++)
        {
            pending.Add(tokens[i]);
            pendingBits += bits[i];
            string piece = tokenizer.Decode(pending);
            if (!piece.Contains('\uFFFD') || pending.Count >= 8 || i == tokens.Count - 1)
            {
                spans.Add(new SurprisalSpan(piece, pendingBits, pending.Count));
                pending.Clear();
                pendingBits = 0;
            }
        }
        return spans;
    }

    /// <summary>UTF-8 length used for bits per byte.</summary>
    public static int Utf8Bytes(string text) => System.Text.Encoding.UTF8.GetByteCount(text);
}
