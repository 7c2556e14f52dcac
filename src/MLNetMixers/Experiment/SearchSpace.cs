using System.Globalization;

namespace MLNetMixers.Experiment;

/// <summary>
/// One family's settings as positions on small grids of values. The first trial is the trainer's defaults; later ones
/// step one or two settings a grid position away from the family's best so far (most of the time) or sample the whole
/// grid (sometimes), skipping settings already tried: a local search around the best that still explores.
/// </summary>
internal sealed class SearchSpace
{
    private readonly (string Name, string[] Labels, double?[] Values)[] dimensions;
    private readonly int[] defaults;
    private readonly HashSet<string> tried = [];

    private SearchSpace((string, string[], double?[])[] dimensions, int[] defaults)
    {
        this.dimensions = dimensions;
        this.defaults = defaults;
    }

    /// <summary>Share of samples drawn from the whole grid rather than near the best.</summary>
    private const double ExploreShare = 0.25;

    /// <summary>
    /// The mixer: width and depth around the defaults (64, 4), epochs as a multiple of the task's default (too few
    /// underfit, too many overfit small tables), dropout (null = the trainer's rule), and the peak learning rate.
    /// </summary>
    public static SearchSpace Mixer(int defaultEpochs)
    {
        var epochs = new[] { 0.5, 1, 1.5, 2 }.Select(f => (double?)Math.Max(1, Math.Round(defaultEpochs * f))).Distinct().ToArray();
        return new SearchSpace(
        [
            Dimension("Width", 32, 64, 128),
            Dimension("Depth", 2, 4, 6),
            ("Epochs", epochs.Select(e => Label(e)).ToArray(), epochs),
            ("Dropout", ["default", "0", "0.1", "0.2", "0.3"], [null, 0, 0.1, 0.2, 0.3]),
            Dimension("LearningRate", 3e-4, 1e-3, 2e-3, 4e-3),
        ], [1, 1, Array.IndexOf(epochs, (double?)defaultEpochs), 0, 1]);
    }

    /// <summary>
    /// LightGBM: leaves, learning rate, boosting iterations and minimum rows per leaf. The first trial keeps ML.NET's
    /// defaults ("default"), the grids' middle positions are next to them.
    /// </summary>
    public static SearchSpace LightGbm() => new(
    [
        ("Leaves", ["default", "4", "8", "16", "31", "64", "128"], [null, 4, 8, 16, 31, 64, 128]),
        ("LearningRate", ["default", "0.02", "0.05", "0.1", "0.2", "0.3"], [null, 0.02, 0.05, 0.1, 0.2, 0.3]),
        ("Iterations", ["default", "50", "100", "200", "400", "800"], [null, 50, 100, 200, 400, 800]),
        ("MinRowsPerLeaf", ["default", "1", "5", "10", "20", "50"], [null, 1, 5, 10, 20, 50]),
    ], [0, 0, 0, 0]);

    private static (string, string[], double?[]) Dimension(string name, params double[] values)
        => (name, values.Select(v => Label(v)).ToArray(), values.Select(v => (double?)v).ToArray());

    private static string Label(double? value) => value?.ToString("G4", CultureInfo.InvariantCulture) ?? "default";

    /// <summary>The trainer's defaults.</summary>
    public int[] Defaults => [.. defaults];

    /// <summary>The next settings: near <paramref name="best"/> (null: the defaults), never one already tried while untried ones remain.</summary>
    public int[] Next(int[]? best, Random random)
    {
        for (int attempt = 0; attempt < 50; attempt++)
        {
            int[] candidate = best is null ? Defaults : random.NextDouble() < ExploreShare ? Uniform(random) : Neighbour(best, random);
            if (!tried.Contains(Key(candidate)))
                return candidate;
        }
        return Uniform(random);
    }

    /// <summary>Marks the settings as tried.</summary>
    public void Tried(int[] position) => tried.Add(Key(position));

    private int[] Uniform(Random random) => dimensions.Select(d => random.Next(d.Values.Length)).ToArray();

    private int[] Neighbour(int[] best, Random random)
    {
        var next = (int[])best.Clone();
        int changes = random.Next(1, 3);
        for (int c = 0; c < changes; c++)
        {
            int d = random.Next(dimensions.Length);
            int count = dimensions[d].Values.Length;
            // "default" sits first on the LightGBM grids but means the middle: step from it to a neighbour of the middle.
            int from = dimensions[d].Values[next[d]] is null && count > 3 ? count / 2 : next[d];
            next[d] = Math.Clamp(from + (random.Next(2) == 0 ? -1 : 1), dimensions[d].Values[0] is null ? 1 : 0, count - 1);
        }
        return next;
    }

    private static string Key(int[] position) => string.Join(",", position);

    /// <summary>The value at <paramref name="position"/> of the named setting; null for the trainer's default.</summary>
    public double? Value(int[] position, string name)
    {
        int d = Array.FindIndex(dimensions, x => x.Name == name);
        return dimensions[d].Values[position[d]];
    }

    /// <summary>Name and label of every setting, for the leaderboard.</summary>
    public IReadOnlyDictionary<string, string> Describe(int[] position)
    {
        var result = new Dictionary<string, string>();
        for (int d = 0; d < dimensions.Length; d++)
            result[dimensions[d].Name] = dimensions[d].Labels[position[d]];
        return result;
    }
}
