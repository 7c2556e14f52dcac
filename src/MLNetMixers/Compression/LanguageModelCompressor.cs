using System.Buffers.Binary;
using System.Security.Cryptography;
using MLNetMixers.Models;
using MLNetMixers.Text;
using MLNetMixers.Training;
using static TorchSharp.torch;
using Symbol = MLNetMixers.Compression.ByteTokenization.Symbol;

namespace MLNetMixers.Compression;

/// <summary>
/// Lossless compression with a language model: each symbol is range-coded with integer frequencies quantised from
/// the model's distribution at its position (<see cref="FrequencyTable"/>). The input is cut into equal runs of
/// symbols, one per lane, coded in lock step (<see cref="ModelLanes"/>) so that one batched step serves many
/// positions. Decoding recomputes the very same logits, which float arithmetic guarantees only on the same CPU
/// kind, build of the library and torch, and torch thread count (the header records the count and decoding uses it).
/// </summary>
/// <remarks>
/// Format (little-endian): magic "MMZ" 0x1A, version 1, 16-byte model fingerprint, original length (int64),
/// first 8 bytes of the original's SHA-256, symbol count (int64), lanes (int32), torch threads (int32), then the
/// range coder's bytes; an encoder-augmented model's window codes (m levels of b bits, uniformly coded) sit in those bytes
/// before their windows' symbols, the same version (its fingerprint differs from every causal model's). Compressed size ≤ Σ −log2 p(token) + symbols · <see cref="FrequencyTable.OverheadBitsPerSymbol"/>
/// + 8 bits per escaped byte + m · b bits per window (and per lane's last window) + (<see cref="HeaderBytes"/> + 5) · 8 bits.
/// </remarks>
internal static class LanguageModelCompressor
{
    private static readonly byte[] Magic = [(byte)'M', (byte)'M', (byte)'Z', 0x1A];
    private const byte Version = 1;
    internal const int FingerprintBytes = 16;
    internal const int HeaderBytes = 4 + 1 + FingerprintBytes + 8 + 8 + 8 + 4 + 4;

    /// <summary>Lanes used when none is asked for: about one per 4 KiB of input, at most 64.</summary>
    internal static int AutomaticLanes(long symbols) => (int)Math.Clamp((symbols + 4095) / 4096, 1, 64);

    public static CompressionStatistics Compress(LanguageModel model, MemoryCode? memory, TextTokenizer tokenizer, Device device, Stream input, Stream output,
                                                 int lanes, int? threads)
    {
        byte[] data = ReadAll(input);
        var symbols = ByteTokenization.Split(data, tokenizer);
        int requested = lanes > 0 ? lanes : AutomaticLanes(symbols.Length);
        using var threadScope = TorchRuntime.UseThreadCount(threads);
        int threadCount = get_num_threads();

        var header = new byte[HeaderBytes];
        Magic.CopyTo(header, 0);
        header[4] = Version;
        Fingerprint(model, memory, tokenizer).CopyTo(header, 5);
        int at = 5 + FingerprintBytes;
        BinaryPrimitives.WriteInt64LittleEndian(header.AsSpan(at), data.Length);
        SHA256.HashData(data).AsSpan(0, 8).CopyTo(header.AsSpan(at + 8));
        BinaryPrimitives.WriteInt64LittleEndian(header.AsSpan(at + 16), symbols.Length);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(at + 24), requested);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(at + 28), threadCount);
        output.Write(header);

        var encoder = new RangeEncoder(output);
        var table = new FrequencyTable(model.Config.VocabularySize);
        long escapes = symbols.LongCount(s => s.IsEscape);
        int standIn = ByteTokenization.StandIn(tokenizer);
        long codeBits = 0;
        Run(model, memory, tokenizer, device, symbols.Length, requested, (lane, index) =>
        {
            var symbol = symbols[index];
            int coded = symbol.IsEscape ? table.Escape : symbol.Token;
            encoder.Encode(table.Start(coded), table.Size(coded), table.Sum);
            if (symbol.IsEscape)
                encoder.Encode(symbol.Byte, 1, 256);
            return symbol;
        }, table, (start, end) =>
        {
            // The code of symbols [start, end), each level coded uniformly: b bits.
            var window = symbols.AsSpan(start, end - start).ToArray().Select(s => s.IsEscape ? standIn : s.Token).ToArray();
            var levels = memory!.LevelsOf(window, device);
            foreach (int level in levels)
                encoder.Encode((uint)level, 1, (uint)memory.Config.Levels);
            codeBits += memory.Config.BitsPerWindow;
            return levels;
        });
        encoder.Flush();
        return new CompressionStatistics(data.Length, HeaderBytes + encoder.BytesWritten, symbols.Length, escapes, requested, threadCount) { MemoryCodeBits = codeBits };
    }

    public static long Decompress(LanguageModel model, MemoryCode? memory, TextTokenizer tokenizer, Device device, Stream input, Stream output)
    {
        var header = new byte[HeaderBytes];
        int read = input.ReadAtLeast(header, HeaderBytes, throwOnEndOfStream: false);
        if (read < Magic.Length || !header.AsSpan(0, Magic.Length).SequenceEqual(Magic))
            throw new InvalidDataException("The input is not a file written by the language-model compressor: it does not start with the 'MMZ' header.");
        if (read < HeaderBytes)
            throw new InvalidDataException("The compressed file is truncated: its header is incomplete.");
        if (header[4] != Version)
            throw new InvalidDataException($"The compressed file has format version {header[4]}; this library reads version {Version}.");
        var fingerprint = Fingerprint(model, memory, tokenizer);
        if (!header.AsSpan(5, FingerprintBytes).SequenceEqual(fingerprint))
            throw new InvalidDataException(
                $"The file was compressed with a different language model (fingerprint {Convert.ToHexString(header, 5, FingerprintBytes)}, " +
                $"this model's is {Convert.ToHexString(fingerprint)}); decompress it with the model that compressed it.");
        int at = 5 + FingerprintBytes;
        long length = BinaryPrimitives.ReadInt64LittleEndian(header.AsSpan(at));
        var checksum = header.AsSpan(at + 8, 8).ToArray();
        long count = BinaryPrimitives.ReadInt64LittleEndian(header.AsSpan(at + 16));
        int lanes = BinaryPrimitives.ReadInt32LittleEndian(header.AsSpan(at + 24));
        int threads = BinaryPrimitives.ReadInt32LittleEndian(header.AsSpan(at + 28));
        // Symbols are bytes, characters or tokens, almost all of at least one byte: many more symbols than bytes can only be a damaged header.
        if (length < 0 || count < 0 || count > 8 * (length + 1) || count > Array.MaxLength || lanes < 1 || threads < 1)
            throw new InvalidDataException("The compressed file's header is corrupt.");

        using var threadScope = TorchRuntime.UseThreadCount(threads);
        var decoder = new RangeDecoder(input);
        var table = new FrequencyTable(model.Config.VocabularySize);
        var symbols = new Symbol[count];
        Run(model, memory, tokenizer, device, (int)count, lanes, (lane, index) =>
        {
            int coded = table.Find(decoder.GetFrequency(table.Sum));
            decoder.Decode(table.Start(coded), table.Size(coded));
            if (coded != table.Escape)
                return symbols[index] = new Symbol(coded, 0);
            uint b = decoder.GetFrequency(256);
            decoder.Decode(b, 1);
            return symbols[index] = Symbol.Raw((byte)b);
        }, table, (start, end) =>
        {
            var levels = new int[memory!.Config.Size];
            for (int i = 0; i < levels.Length; i++)
            {
                levels[i] = (int)decoder.GetFrequency((uint)memory.Config.Levels);
                decoder.Decode((uint)levels[i], 1);
            }
            return levels;
        });

        byte[] data = ByteTokenization.Join(symbols, tokenizer);
        if (data.Length != length || !SHA256.HashData(data).AsSpan(0, 8).SequenceEqual(checksum))
            throw new InvalidDataException(
                "The decompressed data fails its checksum: the file is damaged, or was compressed on a different CPU, library build or torch version " +
                "(model-driven decoding reproduces only where the model's arithmetic is bit-identical).");
        output.Write(data);
        return data.Length;
    }

    /// <summary>
    /// Codes symbols 0..count−1 in lanes of ⌈count/lanes⌉ consecutive symbols, position by position, lane by lane.
    /// <paramref name="code"/> codes (or decodes) symbol <c>index</c> with <paramref name="table"/> loaded for it and returns it.
    /// With a memory code each lane is cut into windows of n_ctx − 1 symbols; at a window's start <paramref name="windowCode"/>
    /// codes (or decodes) the code of symbols [start, end) of every lane that has any, lane by lane, before any of their symbols.
    /// </summary>
    private static void Run(LanguageModel model, MemoryCode? memory, TextTokenizer tokenizer, Device device, int count, int lanes,
                            Func<int, int, Symbol> code, FrequencyTable table, Func<int, int, int[]> windowCode)
    {
        if (count == 0)
            return;
        int chunk = (int)(((long)count + lanes - 1) / lanes);
        int used = (count + chunk - 1) / chunk;
        int standIn = ByteTokenization.StandIn(tokenizer);
        var next = new int[used];
        int window = memory is null ? int.MaxValue : model.Config.ContextLength - 1;
        var previous = Enumerable.Repeat(tokenizer.EndOfText, used).ToArray();
        using var modelLanes = new ModelLanes(model, device, used, tokenizer.EndOfText);
        for (int position = 0; position < chunk; position++)
        {
            if (memory is not null && position % window == 0)
            {
                var levels = new int[used][];
                for (int lane = 0; lane < used; lane++)
                {
                    long start = (long)lane * chunk + position;
                    long end = Math.Min(Math.Min(start + window, (long)(lane + 1) * chunk), count);
                    // A lane past the end codes nothing more: both sides know the count, so its code is not in the stream.
                    levels[lane] = start < count ? windowCode((int)start, (int)end) : new int[memory.Config.Size];
                }
                using var scope = NewDisposeScope();
                using var noGrad = no_grad();
                modelLanes.Restart(memory.MemoryToken(levels, device), previous);
            }
            for (int lane = 0; lane < used; lane++)
            {
                long index = (long)lane * chunk + position;
                if (index >= count)
                {
                    next[lane] = tokenizer.EndOfText; // a finished lane pads, the same on both sides
                    continue;
                }
                table.Load(modelLanes.Probabilities(lane));
                var symbol = code(lane, (int)index);
                next[lane] = symbol.IsEscape ? standIn : symbol.Token;
            }
            // Lane 0 always holds a full chunk, so another position means another step (or, at a window's end, a new window).
            if (memory is not null && (position + 1) % window == 0)
                next.CopyTo(previous, 0);
            else if (position + 1 < chunk)
                modelLanes.Advance(next);
        }
    }

    /// <summary>First 16 bytes of the SHA-256 of the model's shape, tokenizer and every weight, and those of its memory code if it has one.</summary>
    internal static byte[] Fingerprint(LanguageModel model, MemoryCode? memory, TextTokenizer tokenizer)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using (var buffer = new MemoryStream())
        using (var writer = new BinaryWriter(buffer))
        {
            model.Config.Save(writer);
            tokenizer.Save(writer);
            memory?.Config.Save(writer);
            writer.Flush();
            hash.AppendData(buffer.ToArray());
        }
        var weights = model.state_dict().OrderBy(p => p.Key, StringComparer.Ordinal).ToList();
        if (memory is not null)
            weights.AddRange(memory.state_dict().OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => KeyValuePair.Create("memory." + p.Key, p.Value)));
        foreach (var (name, tensor) in weights)
        {
            hash.AppendData(System.Text.Encoding.UTF8.GetBytes(name));
            using var cpu = tensor.detach().cpu().contiguous();
            hash.AppendData(cpu.bytes);
        }
        return hash.GetHashAndReset().AsSpan(0, FingerprintBytes).ToArray();
    }

    private static byte[] ReadAll(Stream input)
    {
        if (input is MemoryStream memory && memory.Position == 0)
            return memory.ToArray();
        using var copy = new MemoryStream();
        input.CopyTo(copy);
        return copy.ToArray();
    }
}

/// <summary>What one compression did.</summary>
/// <param name="OriginalBytes">Bytes read.</param>
/// <param name="CompressedBytes">Bytes written, header included.</param>
/// <param name="Symbols">Symbols coded: tokens plus escaped bytes.</param>
/// <param name="EscapedBytes">Bytes coded raw because the tokenizer could not reproduce them.</param>
/// <param name="Lanes">Lanes the input was split into (each starts from an empty context).</param>
/// <param name="Threads">Torch CPU threads used, which decoding reuses.</param>
public sealed record CompressionStatistics(long OriginalBytes, long CompressedBytes, long Symbols, long EscapedBytes, int Lanes, int Threads)
{
    /// <summary>Compressed bits per original byte (NaN for an empty input).</summary>
    public double BitsPerByte => OriginalBytes == 0 ? double.NaN : CompressedBytes * 8.0 / OriginalBytes;

    /// <summary>Of the compressed bits, those of the windows' memory codes (an encoder-augmented model); 0 for a causal model.</summary>
    public long MemoryCodeBits { get; init; }
}
