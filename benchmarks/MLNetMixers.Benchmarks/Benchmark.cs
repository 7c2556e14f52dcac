using System.Diagnostics;
using System.Text;

namespace MLNetMixers.Benchmarks;

/// <summary>One benchmark: measures something and adds tables to the report. Found by reflection.</summary>
internal interface IBenchmark
{
    /// <summary>Short name used by <c>--only</c> and as the report section title.</summary>
    string Name { get; }

    /// <summary>Runs the benchmark. In smoke mode it must do one tiny step of every code path and finish in seconds.</summary>
    void Run(BenchmarkContext context);
}

/// <summary>What a benchmark gets: the mode, a log, and the report it writes into.</summary>
internal sealed class BenchmarkContext
{
    public BenchmarkContext(bool smoke, TextWriter log, string datasetsFolder)
    {
        Smoke = smoke;
        Log = log;
        DatasetsFolder = datasetsFolder;
    }

    /// <summary>One tiny step of everything, for the test suite: figures are meaningless.</summary>
    public bool Smoke { get; }

    public TextWriter Log { get; }

    /// <summary>../shared/datasets beside the repository.</summary>
    public string DatasetsFolder { get; }

    public MarkdownReport Report { get; } = new();

    /// <summary>Runs <paramref name="action"/> with torch on one thread, then restores the thread count.</summary>
    /// <remarks>Small per-token kernels are latency-bound: extra threads only add contention noise.</remarks>
    public static void OnOneTorchThread(Action action)
    {
        int threads = TorchSharp.torch.get_num_threads();
        TorchSharp.torch.set_num_threads(1);
        try
        {
            action();
        }
        finally
        {
            TorchSharp.torch.set_num_threads(threads);
        }
    }

    /// <summary>Wall-clock seconds of <paramref name="action"/> (median of <paramref name="repeats"/> runs after one warm-up).</summary>
    public static double MedianSeconds(Action action, int repeats)
    {
        action();
        return Median(Seconds(action, repeats));
    }

    /// <summary>Wall-clock seconds of each of <paramref name="repeats"/> consecutive runs of <paramref name="action"/>.</summary>
    public static double[] Seconds(Action action, int repeats)
    {
        var times = new double[repeats];
        for (int i = 0; i < repeats; i++)
        {
            long start = Stopwatch.GetTimestamp();
            action();
            times[i] = Stopwatch.GetElapsedTime(start).TotalSeconds;
        }
        return times;
    }

    /// <summary>The middle value (the upper of the two middle ones for an even count), as every timing here reports.</summary>
    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted[sorted.Length / 2];
    }

    /// <summary>
    /// Median seconds of each action over <paramref name="rounds"/> rounds that run every action once in turn
    /// (after <paramref name="warmupRounds"/> untimed rounds), so that a shared machine's changing load affects all of them alike.
    /// </summary>
    public static double[] InterleavedMedianSeconds(IReadOnlyList<Action> actions, int rounds, int warmupRounds = 1)
    {
        for (int w = 0; w < warmupRounds; w++)
        {
            foreach (var action in actions)
                action();
        }
        var times = new double[actions.Count][];
        for (int a = 0; a < actions.Count; a++)
            times[a] = new double[rounds];
        for (int r = 0; r < rounds; r++)
        {
            for (int a = 0; a < actions.Count; a++)
            {
                long start = Stopwatch.GetTimestamp();
                actions[a]();
                times[a][r] = Stopwatch.GetElapsedTime(start).TotalSeconds;
            }
        }
        return times.Select(Median).ToArray();
    }
}

/// <summary>Collects sections, tables and notes, and renders them as Markdown.</summary>
internal sealed class MarkdownReport
{
    private readonly StringBuilder text = new();

    public void Section(string title) => text.AppendLine().AppendLine($"## {title}").AppendLine();

    public void Note(string line) => text.AppendLine(line).AppendLine();

    public void Table(IReadOnlyList<string> headers, IEnumerable<IReadOnlyList<string>> rows)
    {
        text.AppendLine("| " + string.Join(" | ", headers) + " |");
        text.AppendLine("|" + string.Concat(headers.Select(_ => "---|")));
        foreach (var row in rows)
            text.AppendLine("| " + string.Join(" | ", row) + " |");
        text.AppendLine();
    }

    public override string ToString() => text.ToString();
}
