using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetMixers.Encoding;

/// <summary>
/// Value tokens: a number field written as one token that carries the value itself, coarsely: its bin among the
/// column's fitted quantiles and its place inside that bin, in <see cref="Steps"/> steps. Token id = the vocabulary's first
/// value token + bin · Steps + step.
/// The tabular models embed a value token piecewise-linearly (Gorishniy, Rubachev, Babenko 2022, "On Embeddings for
/// Numerical Features in Tabular Deep Learning"): component j of its encoding is 1 for bins below the value's, the
/// place inside its own bin, 0 above. Values close together get close embeddings, which digit tokens do not give:
/// a network has to learn from few rows how digits compare, and it memorises rows by their low digits instead.
/// </summary>
internal static class NumberValueTokens
{
    /// <summary>Quantile bins per column (fewer when the column has fewer distinct quantiles).</summary>
    public const int Bins = 16;

    /// <summary>Steps inside a bin.</summary>
    public const int Steps = 8;

    /// <summary>Value tokens in a vocabulary that has them.</summary>
    public const int Count = Bins * Steps;

    private const string Prefix = "<value ";

    /// <summary>
    /// Ascending distinct quantile edges of <paramref name="sorted"/> (at most <see cref="Bins"/> + 1), or null when it
    /// holds fewer than two distinct values.
    /// </summary>
    public static double[]? Edges(double[] sorted)
    {
        if (sorted.Length == 0 || sorted[0] == sorted[^1])
            return null;
        return Enumerable.Range(0, Bins + 1)
            .Select(k => sorted[(int)Math.Min(sorted.Length - 1, (long)k * (sorted.Length - 1) / Bins)])
            .Distinct().ToArray();
    }

    /// <summary>The level (bin · Steps + step) of a value; values outside the fitted edges take the nearest end.</summary>
    public static int Level(double[] edges, double value)
    {
        if (!(value > edges[0]))
            return 0;
        int last = edges.Length - 2;
        if (value >= edges[^1])
            return last * Steps + Steps - 1;
        int bin = 0;
        while (bin < last && value >= edges[bin + 1])
            bin++;
        double place = (value - edges[bin]) / (edges[bin + 1] - edges[bin]);
        return bin * Steps + Math.Min(Steps - 1, (int)(place * Steps));
    }

    /// <summary>Key-value text of a level, e.g. <c>&lt;value 3+5/8&gt;</c>: bin 3, sixth of eight steps.</summary>
    public static string Text(int level) => $"{Prefix}{level / Steps}+{level % Steps}/{Steps}>";

    /// <summary>One readable character per value token: the bin as a hexadecimal digit.</summary>
    public static char DisplayCharacter(int level) => "0123456789ABCDEF"[level / Steps];

    /// <summary>
    /// The token id of the first value token, read from the key values of an encoded column (the texts
    /// <see cref="Text"/> writes, <see cref="Count"/> of them in a row), or -1 when it has none.
    /// </summary>
    public static int FindStart(DataViewSchema.Column column)
    {
        if (!column.HasKeyValues(TextDataViewType.Instance))
            return -1;
        VBuffer<ReadOnlyMemory<char>> values = default;
        column.GetKeyValues(ref values);
        var texts = values.DenseValues().ToArray();
        int start = Array.FindIndex(texts, t => t.Span.StartsWith(Prefix));
        if (start < 0)
            return -1;
        for (int level = 0; level < Count; level++)
        {
            if (start + level >= texts.Length || !texts[start + level].Span.SequenceEqual(Text(level)))
                throw new InvalidOperationException(
                    $"The key values of column '{column.Name}' hold value tokens from id {start} but not all {Count} of them in order: " +
                    "the column is not an EncodeAsCharacters output.");
        }
        return start;
    }
}
