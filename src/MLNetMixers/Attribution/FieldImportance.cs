namespace MLNetMixers;

/// <summary>
/// The importance of one field (or raw input column) over a dataset: a mean with its spread, the shape of ML.NET's
/// <c>MetricStatistics</c>.
/// </summary>
public sealed class FieldImportance
{
    internal FieldImportance(string field, double mean, double standardDeviation, int count)
    {
        Field = field;
        Mean = mean;
        StandardDeviation = standardDeviation;
        Count = count;
    }

    /// <summary>The field name (for permutation importance: the raw input column).</summary>
    public string Field { get; }

    /// <summary>
    /// Attribution importance: the mean absolute field attribution over rows. Permutation importance: the mean metric
    /// drop (baseline minus permuted; positive = the model needs this column) over repeats.
    /// </summary>
    public double Mean { get; }

    /// <summary>Standard deviation over rows (attribution) or repeats (permutation).</summary>
    public double StandardDeviation { get; }

    /// <summary>Standard error of <see cref="Mean"/>: <see cref="StandardDeviation"/> / sqrt(<see cref="Count"/>).</summary>
    public double StandardError => Count > 0 ? StandardDeviation / Math.Sqrt(Count) : double.NaN;

    /// <summary>Rows (attribution) or repeats (permutation) averaged.</summary>
    public int Count { get; }

    /// <inheritdoc/>
    public override string ToString() => $"{Field}: {Mean:G4} ± {StandardDeviation:G3} (n = {Count})";

    internal static FieldImportance FromSamples(string field, IReadOnlyList<double> samples)
    {
        int n = samples.Count;
        double mean = n > 0 ? samples.Average() : double.NaN;
        double sd = n > 1 ? Math.Sqrt(samples.Sum(s => (s - mean) * (s - mean)) / (n - 1)) : 0;
        return new FieldImportance(field, mean, sd, n);
    }
}
