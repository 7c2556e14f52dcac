namespace MLNetMixers.Compression;

/// <summary>
/// A byte-oriented range coder with carry propagation (the scheme of LZMA's coder): a 32-bit range, renormalised
/// whenever it falls below 2^24, so a total frequency of at most 2^24 keeps every interval non-empty. Coding a symbol
/// of frequency f out of total T costs at most -log2(f/T) + log2(1 / (1 - T/2^24)) bits; the flush adds 5 bytes.
/// </summary>
internal sealed class RangeEncoder
{
    internal const uint TopValue = 1u << 24;
    private readonly Stream output;
    private ulong low;
    private uint range = uint.MaxValue;
    private byte cache;
    private long cacheSize = 1;

    public RangeEncoder(Stream output) => this.output = output;

    /// <summary>Bytes written so far.</summary>
    public long BytesWritten { get; private set; }

    /// <summary>Codes the interval [start, start + size) of [0, total); total must not exceed 2^24.</summary>
    public void Encode(uint start, uint size, uint total)
    {
        uint r = range / total;
        low += (ulong)r * start;
        range = r * size;
        while (range < TopValue)
        {
            range <<= 8;
            ShiftLow();
        }
    }

    /// <summary>Writes the last bytes; the encoder must not be used afterwards.</summary>
    public void Flush()
    {
        for (int i = 0; i < 5; i++)
            ShiftLow();
    }

    private void ShiftLow()
    {
        // A byte can only be written once no later carry can change it: low's top byte is not 0xFF, or a carry has just happened.
        if ((uint)low < 0xFF000000u || (low >> 32) != 0)
        {
            byte carry = (byte)(low >> 32);
            byte pending = cache;
            do
            {
                output.WriteByte((byte)(pending + carry));
                BytesWritten++;
                pending = 0xFF;
            }
            while (--cacheSize != 0);
            cache = (byte)(low >> 24);
        }
        cacheSize++;
        low = (low & 0x00FFFFFFu) << 8;
    }
}

/// <summary>Reads what <see cref="RangeEncoder"/> wrote: <see cref="GetFrequency"/>, find the symbol, then <see cref="Decode"/>.</summary>
internal sealed class RangeDecoder
{
    private readonly Stream input;
    private uint code;
    private uint range = uint.MaxValue;
    private uint scale;

    public RangeDecoder(Stream input)
    {
        this.input = input;
        for (int i = 0; i < 5; i++)
            code = (code << 8) | NextByte();
    }

    /// <summary>The cumulative frequency the next symbol's interval contains, in [0, total).</summary>
    public uint GetFrequency(uint total)
    {
        scale = range / total;
        uint value = code / scale;
        return value < total ? value : total - 1;
    }

    /// <summary>Consumes the symbol [start, start + size) found with the last <see cref="GetFrequency"/>.</summary>
    public void Decode(uint start, uint size)
    {
        code -= scale * start;
        range = scale * size;
        while (range < RangeEncoder.TopValue)
        {
            code = (code << 8) | NextByte();
            range <<= 8;
        }
    }

    // Past the end the encoder's flush guarantees the bytes no longer matter; a truncated file fails the checksum instead.
    private uint NextByte()
    {
        int b = input.ReadByte();
        return b < 0 ? 0u : (uint)b;
    }
}
