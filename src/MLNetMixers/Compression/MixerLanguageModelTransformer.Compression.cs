using Microsoft.ML.Runtime;
using MLNetMixers.Compression;

namespace MLNetMixers;

/// <summary>Options of <see cref="MixerLanguageModelTransformer.Compress"/>.</summary>
public sealed class LanguageModelCompressionOptions
{
    /// <summary>
    /// Independent runs the input is cut into and coded side by side in one batch: more lanes are faster, but each
    /// starts without context, which costs a little compression. 0 picks about one per 4 KiB, at most 64.
    /// </summary>
    public int Lanes = 0;

    /// <summary>
    /// Torch CPU threads while compressing (restored afterwards); null uses the current count. The count is written
    /// into the file and decompression uses it again, because a different count may change the arithmetic's last bits.
    /// </summary>
    public int? NumberOfThreads;
}

/// <summary>A piece of text and what it cost: whole characters, from one or more tokens.</summary>
/// <param name="Text">The text of the tokens.</param>
/// <param name="Bits">−log2 of the model's probability of those tokens.</param>
/// <param name="Tokens">Number of tokens in the piece.</param>
public sealed record SurprisalSpan(string Text, double Bits, int Tokens);

/// <summary>The per-token cost of a text under a language model.</summary>
/// <param name="Bits">Bits of each token, in order.</param>
/// <param name="Spans">The text cut into displayable pieces with their bits.</param>
/// <param name="TotalBits">Sum of <paramref name="Bits"/>.</param>
/// <param name="Bytes">UTF-8 bytes of the text.</param>
public sealed record TextSurprisal(float[] Bits, IReadOnlyList<SurprisalSpan> Spans, double TotalBits, int Bytes)
{
    /// <summary>Bits per UTF-8 byte (NaN for an empty text).</summary>
    public double BitsPerByte => Bytes == 0 ? double.NaN : TotalBits / Bytes;
}

public sealed partial class MixerLanguageModelTransformer
{
    /// <summary>
    /// Losslessly compresses any bytes (text, binary, empty) with this model driving a range coder. What the tokenizer
    /// cannot reproduce is coded as escaped raw bytes. An encoder-augmented model writes each window's memory code
    /// (<see cref="MemoryCodeBitsPerWindow"/> bits) before the window's symbols, so the codes' bits are in the size. Only this same model (checked by a fingerprint of its weights
    /// and tokenizer), on the same kind of CPU with the same library and torch build, can decompress the result.
    /// </summary>
    /// <param name="input">Read to its end.</param>
    /// <param name="output">Receives the header and the coded bytes.</param>
    /// <param name="options">Lanes and threads; null uses the defaults.</param>
    public CompressionStatistics Compress(Stream input, Stream output, LanguageModelCompressionOptions? options = null)
    {
        Host.CheckValue(input, nameof(input));
        Host.CheckValue(output, nameof(output));
        options ??= new LanguageModelCompressionOptions();
        Host.CheckUserArg(options.Lanes >= 0, nameof(options.Lanes), "must not be negative");
        Host.CheckUserArg(options.NumberOfThreads is null or >= 1, nameof(options.NumberOfThreads), "must be at least 1");
        return LanguageModelCompressor.Compress(model, memoryCode, tokenizer, device, input, output, options.Lanes, options.NumberOfThreads);
    }

    /// <summary>
    /// Restores what <see cref="Compress"/> wrote. Throws <see cref="InvalidDataException"/> when the input was written by
    /// another model, is not a compressed file, or fails its checksum; nothing is written to <paramref name="output"/> then.
    /// </summary>
    /// <returns>The number of bytes written.</returns>
    public long Decompress(Stream input, Stream output)
    {
        Host.CheckValue(input, nameof(input));
        Host.CheckValue(output, nameof(output));
        return LanguageModelCompressor.Decompress(model, memoryCode, tokenizer, device, input, output);
    }

    /// <summary>The bits each token of <paramref name="text"/> costs, read after an end of text as a new document.</summary>
    public TextSurprisal MeasureSurprisal(string text)
    {
        Host.CheckValue(text, nameof(text));
        RequireCausal("score tokens one by one (its memory code is paid per window: use Evaluate or Compress)");
        int[] tokens = tokenizer.Encode(text);
        float[] bits = SurprisalScorer.Score(model, tokenizer.EndOfText, tokens, device);
        var spans = SurprisalScorer.Spans(tokenizer, text, tokens, bits);
        return new TextSurprisal(bits, spans, bits.Sum(b => (double)b), SurprisalScorer.Utf8Bytes(text));
    }
}
