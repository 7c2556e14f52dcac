namespace MLNetMixers.Compression;

/// <summary>
/// Integer frequencies for the range coder from one position's logits, computed the same way on both sides:
/// f_i = 1 + floor(p_i · (T − S)) (p_i: torch's float32 softmax) over the model's V tokens plus one escape symbol (frequency 1) that announces
/// a raw byte, where S = V + 1 and T = 2^k is the smallest power of two ≥ 16·S (at least 2^16). The floor of 1
/// keeps every symbol codable; the extra cost against the model's own −log2 p is at most log2(T / (T − S)) per token.
/// </summary>
internal sealed class FrequencyTable
{
    private readonly int vocabulary;
    private readonly uint available;
    private readonly uint[] cumulative;

    public FrequencyTable(int vocabularySize)
    {
        vocabulary = vocabularySize;
        int symbols = vocabularySize + 1;
        int bits = 16;
        while ((1L << bits) < 16L * symbols)
            bits++;
        if (bits > 22)
            throw new ArgumentOutOfRangeException(nameof(vocabularySize), vocabularySize, "Vocabularies above 262,143 tokens cannot be range-coded with 24-bit frequencies.");
        Total = 1u << bits;
        available = Total - (uint)symbols;
        cumulative = new uint[symbols + 1];
    }

    /// <summary>The escape symbol's index: a raw byte follows, coded uniformly.</summary>
    public int Escape => vocabulary;

    /// <summary>The nominal total 2^k the frequencies are scaled to (their actual sum is at most this).</summary>
    public uint Total { get; }

    /// <summary>Sum of the current frequencies.</summary>
    public uint Sum => cumulative[^1];

    /// <summary>Upper bound, in bits per coded symbol, of what quantisation and the coder's truncation add to −log2 p.</summary>
    public double OverheadBitsPerSymbol => Math.Log2((double)Total / available) - Math.Log2(1 - (double)Total / RangeEncoder.TopValue);

    /// <summary>Loads the distribution of one position: <paramref name="probabilities"/> holds the model's V probabilities.</summary>
    public void Load(ReadOnlySpan<float> probabilities)
    {
        uint c = 0;
        for (int i = 0; i < vocabulary; i++)
        {
            cumulative[i] = c;
            // A probability is at most 1 (NaN, never from a finite model, falls to the floor), so the counts stay within T.
            float p = probabilities[i];
            c += 1 + (p > 0 ? (uint)Math.Min((double)p * available, available) : 0u);
        }
        cumulative[vocabulary] = c;
        cumulative[vocabulary + 1] = c + 1;
    }

    public uint Start(int symbol) => cumulative[symbol];

    public uint Size(int symbol) => cumulative[symbol + 1] - cumulative[symbol];

    /// <summary>The symbol whose interval holds <paramref name="frequency"/> (binary search over the cumulative counts).</summary>
    public int Find(uint frequency)
    {
        int lo = 0, hi = vocabulary; // the answer is in [lo, hi]
        while (lo < hi)
        {
            int mid = (lo + hi + 1) >> 1;
            if (cumulative[mid] <= frequency)
                lo = mid;
            else
                hi = mid - 1;
        }
        return lo;
    }
}
