using System.Diagnostics;
using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers.LightGbm;
using MLNetMixers.Training;

namespace MLNetMixers.Benchmarks;

/// <summary>
/// Issue 29's width scaling: training seconds per epoch and peak memory of the mixer at 30 to 2,000 columns, with
/// adjacent positions grouped into tokens past MaxMixedTokens (the default) and with dense T x T mixing, against
/// LightGBM on the same rows. Synthetic tables as in the issue: uniform numbers with 3 decimals, every tenth column a
/// 3-value category, the label from the first two columns (so a useful model is far above AUC 0.5).
/// </summary>
/// <remarks>
/// Seconds are per 1,000 training rows and epoch, so that the slow dense runs can use fewer rows. Peak memory is the
/// largest rise of the process's resident set over its value before the fit, sampled every 20 ms. One torch thread
/// and one LightGBM thread.
/// </remarks>
internal sealed class WideTableScalingBenchmark : IBenchmark
{
    public string Name => "WideTableScaling";

    public void Run(BenchmarkContext context)
    {
        TorchRuntime.EnsureAvailable();
        int[] widths = context.Smoke ? [30, 100] : ParseWidths() ?? [30, 100, 300, 1000, 2000];
        int rows = context.Smoke ? 60 : EnvInt("WIDE_ROWS") ?? 400;
        int denseRows = context.Smoke ? 40 : EnvInt("WIDE_DENSE_ROWS") ?? 80;
        int epochs = context.Smoke ? 1 : EnvInt("WIDE_EPOCHS") ?? 2;
        var table = new List<IReadOnlyList<string>>();
        foreach (int columns in widths)
        {
            string csv = WriteTable(columns, rows, seed: columns);
            var ml = new MLContext(seed: 1);
            var (train, test, numbers, categories) = Load(ml, csv, columns);
            table.Add(Mixer(context, ml, train, test, numbers, categories, columns, "mixer (grouped, default)", rows, epochs, maxMixedTokens: new MixerBinaryTrainer.Options().MaxMixedTokens));
            var fewer = ml.Data.TakeRows(train, denseRows);
            table.Add(Mixer(context, ml, fewer, test, numbers, categories, columns, "mixer (dense T x T)", denseRows, 1, maxMixedTokens: 0));
            table.Add(LightGbm(context, ml, train, test, numbers, categories, columns, rows));
            File.Delete(csv);
        }
        context.Report.Note($"{rows} synthetic rows per table (80 % trained, 20 % held out; the dense mixer on its first {denseRows} training rows, 1 epoch), "
            + $"{epochs} epoch(s) for the grouped mixer, default widths (64 wide, 4 deep), one thread each. s/epoch/1k rows = fit seconds / epochs / training rows x 1000 "
            + "(the mixer's fit includes reading and encoding the rows; LightGBM's, featurisation and all its iterations). Peak memory = largest rise of the "
            + "resident set during the fit. Max loss = the largest training loss the trainer reported (the issue saw 38 at 2,000 columns, dense).");
        context.Report.Table(["columns", "model", "positions T", "tokens mixed", "weights", "s/epoch/1k rows", "peak memory (MB)", "max loss", "held-out AUC"], table);
    }

    private static int[]? ParseWidths() => Environment.GetEnvironmentVariable("WIDE_COLUMNS") is { Length: > 0 } s
        ? s.Split(',').Select(v => int.Parse(v, CultureInfo.InvariantCulture)).ToArray() : null;

    private static int? EnvInt(string name) => int.TryParse(Environment.GetEnvironmentVariable(name), out int v) ? v : null;

    private static string WriteTable(int columns, int rows, int seed)
    {
        var random = new Random(seed);
        string path = Path.Combine(Path.GetTempPath(), $"mlnetmixers-wide-{columns}-{Environment.ProcessId}.csv");
        using var w = new StreamWriter(path);
        w.WriteLine(string.Join(',', Enumerable.Range(0, columns).Select(c => $"c{c}")) + ",y");
        string[] levels = ["a", "b", "c"];
        for (int r = 0; r < rows; r++)
        {
            var values = new string[columns];
            double x0 = 0, x1 = 0;
            for (int c = 0; c < columns; c++)
            {
                if (c % 10 == 9)
                {
                    values[c] = levels[random.Next(3)];
                    continue;
                }
                double v = Math.Round(random.NextDouble(), 3);
                if (c == 0) x0 = v;
                if (c == 1) x1 = v;
                values[c] = v.ToString("0.000", CultureInfo.InvariantCulture);
            }
            w.WriteLine(string.Join(',', values) + "," + (x0 + x1 > 1 ? "true" : "false"));
        }
        return path;
    }

    private static (IDataView Train, IDataView Test, string[] Numbers, string[] Categories) Load(MLContext ml, string csv, int columns)
    {
        var loaderColumns = Enumerable.Range(0, columns)
            .Select(c => new TextLoader.Column($"c{c}", c % 10 == 9 ? DataKind.String : DataKind.Single, c))
            .Append(new TextLoader.Column("Label", DataKind.Boolean, columns)).ToArray();
        var data = ml.Data.Cache(ml.Data.LoadFromTextFile(csv, loaderColumns, separatorChar: ',', hasHeader: true));
        var split = ml.Data.TrainTestSplit(data, testFraction: 0.2, seed: 1);
        string[] numbers = [.. Enumerable.Range(0, columns).Where(c => c % 10 != 9).Select(c => $"c{c}")];
        string[] categories = [.. Enumerable.Range(0, columns).Where(c => c % 10 == 9).Select(c => $"c{c}")];
        return (split.TrainSet, split.TestSet, numbers, categories);
    }

    private static IReadOnlyList<string> Mixer(BenchmarkContext context, MLContext ml, IDataView train, IDataView test, string[] numbers, string[] categories,
        int columns, string name, int rows, int epochs, int maxMixedTokens)
    {
        var losses = new MaxLoss();
        var options = new MixerBinaryTrainer.Options { Epochs = epochs, NumberOfThreads = 1, MaxMixedTokens = maxMixedTokens, Progress = losses };
        var pipeline = ml.Transforms.EncodeAsCharacters("Features", [.. numbers, .. categories]).Append(ml.BinaryClassification.Trainers.Mixer(options));
        long trainRows = Count(train);
        var (model, seconds, peak) = Measure(() => pipeline.Fit(train));
        double auc = ml.BinaryClassification.Evaluate(model.Transform(test)).AreaUnderRocCurve;
        var shape = model.LastTransformer.Shape;
        long weights;
        using (var scope = TorchSharp.torch.NewDisposeScope())
            weights = model.LastTransformer.Network.parameters().Sum(p => p.numel());
        context.Log.WriteLine($"WideTableScaling: {columns} columns, {name}: {seconds:F1} s for {epochs} epoch(s) of {trainRows} rows, peak +{peak / 1e6:F0} MB, AUC {auc:F3}, max loss {losses.Max:F2}");
        model.LastTransformer.Dispose();
        return [columns.ToString(CultureInfo.InvariantCulture), name, shape.SequenceLength.ToString(CultureInfo.InvariantCulture), shape.MixedTokens.ToString(CultureInfo.InvariantCulture),
            weights.ToString("N0", CultureInfo.InvariantCulture), (seconds / epochs / trainRows * 1000).ToString("F1", CultureInfo.InvariantCulture),
            (peak / 1e6).ToString("F0", CultureInfo.InvariantCulture), losses.Max.ToString("F2", CultureInfo.InvariantCulture), auc.ToString("F3", CultureInfo.InvariantCulture)];
    }

    private static IReadOnlyList<string> LightGbm(BenchmarkContext context, MLContext ml, IDataView train, IDataView test, string[] numbers, string[] categories, int columns, int rows)
    {
        var pipeline = ml.Transforms.Concatenate("Numbers", numbers)
            .Append(ml.Transforms.Categorical.OneHotEncoding([.. categories.Select((c, i) => new InputOutputColumnPair($"Category{i}", c))]))
            .Append(ml.Transforms.Concatenate("Features", ["Numbers", .. categories.Select((_, i) => $"Category{i}")]))
            .Append(ml.BinaryClassification.Trainers.LightGbm(new LightGbmBinaryTrainer.Options { NumberOfThreads = 1, Seed = 1, Silent = true }));
        long trainRows = Count(train);
        var (model, seconds, peak) = Measure(() => pipeline.Fit(train));
        double auc = ml.BinaryClassification.Evaluate(model.Transform(test)).AreaUnderRocCurve;
        context.Log.WriteLine($"WideTableScaling: {columns} columns, LightGBM: {seconds:F1} s, peak +{peak / 1e6:F0} MB, AUC {auc:F3}");
        return [columns.ToString(CultureInfo.InvariantCulture), "LightGBM (defaults)", "", "", "",
            (seconds / trainRows * 1000).ToString("F1", CultureInfo.InvariantCulture) + " (whole fit)",
            (peak / 1e6).ToString("F0", CultureInfo.InvariantCulture), "", auc.ToString("F3", CultureInfo.InvariantCulture)];
    }

    /// <summary>Runs <paramref name="fit"/> while a thread samples the resident set: (result, seconds, largest rise in bytes).</summary>
    private static (T Result, double Seconds, long PeakRise) Measure<T>(Func<T> fit)
    {
        GC.Collect();
        using var process = Process.GetCurrentProcess();
        process.Refresh();
        long before = process.WorkingSet64, peak = before;
        bool done = false;
        var sampler = new Thread(() =>
        {
            using var p = Process.GetCurrentProcess();
            while (!Volatile.Read(ref done))
            {
                p.Refresh();
                Interlocked.Exchange(ref peak, Math.Max(Interlocked.Read(ref peak), p.WorkingSet64));
                Thread.Sleep(20);
            }
        }) { IsBackground = true };
        sampler.Start();
        var clock = Stopwatch.StartNew();
        T result;
        try
        {
            result = fit();
        }
        finally
        {
            Volatile.Write(ref done, true);
            sampler.Join();
        }
        return (result, clock.Elapsed.TotalSeconds, Math.Max(0, peak - before));
    }

    /// <summary>The largest loss reported, recorded on the training thread (Progress&lt;T&gt; would post it later).</summary>
    private sealed class MaxLoss : IProgress<TrainingProgress>
    {
        public double Max { get; private set; }

        public void Report(TrainingProgress value)
        {
            if (double.IsFinite(value.Loss))
                Max = Math.Max(Max, value.Loss);
        }
    }

    /// <summary>Rows of a view (a split or TakeRows view does not know its count).</summary>
    private static long Count(IDataView data)
    {
        long rows = 0;
        using var cursor = data.GetRowCursor([]);
        while (cursor.MoveNext())
            rows++;
        return rows;
    }
}
