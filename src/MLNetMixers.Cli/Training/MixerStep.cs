using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetMixers.Cli.Data;
using MLNetMixers.Cli.Terminal;

namespace MLNetMixers.Cli.Training;

/// <summary>What the mixer step needs: the split, the columns to encode and how to train.</summary>
internal sealed record MixerStepInput(
    CsvSchema Schema,
    IReadOnlyList<string> FeatureColumns,
    LabelSpec Label,
    IDataView Train,
    long TrainRows,
    TrainSettings Settings,
    CancellationToken Cancellation);

/// <summary>The trained chain (encoder + mixer, taking raw CSV columns) and how it was trained.</summary>
internal sealed record MixerStepResult(TransformerChain<ITransformer> Model, int Epochs, double? ProbedRowsPerSecond);

/// <summary>Encodes the feature columns as characters and trains the mixer on them: the CLI's one mixer pipeline.</summary>
internal static class MixerStep
{
    /// <summary>The mixer's time budget when neither --epochs nor --train-time is given: the README run fits in minutes on two cores.</summary>
    public static readonly TimeSpan DefaultTrainTime = TimeSpan.FromMinutes(2);

    /// <summary>Fits the encoder and the mixer; the chain takes the raw CSV columns.</summary>
    public static MixerStepResult Train(MLContext mlContext, MixerStepInput input, ProgressReport report)
    {
        var encoder = mlContext.Transforms.EncodeAsCharacters(new CharacterEncodingOptions
        {
            OutputColumnName = FeaturesColumn(input.Schema),
            InputColumnNames = [.. input.FeatureColumns],
            // Empty fields and the NA spellings the sniffer saw are missing values, as LightGBM's featurization sees them.
            MissingTextValues = ["", .. input.Schema.MissingTokens],
        }).Fit(input.Train);
        var encoded = encoder.Transform(input.Train);

        var settings = input.Settings;
        int epochs;
        double? probed = null;
        TimeSpan? limit = settings.TrainTime;
        if (settings.Epochs is { } requested)
        {
            epochs = requested;
        }
        else
        {
            // A time budget: measure this machine's speed on a few rows, then plan as many epochs as fit, so the
            // learning-rate schedule runs to its end instead of being cut off mid-way.
            var budget = settings.TrainTime ?? DefaultTrainTime;
            var probeClock = System.Diagnostics.Stopwatch.StartNew();
            report(0, "measuring speed", false);
            double rowsPerSecond = (probed = Probe(mlContext, input, encoded, TimeSpan.FromSeconds(Math.Clamp(budget.TotalSeconds / 15, 4.5, 10)))).Value;
            limit = budget - probeClock.Elapsed;
            if (limit < TimeSpan.FromSeconds(1))
                limit = TimeSpan.FromSeconds(1);
            long rows = input.TrainRows;
            // At most the trainer's own default for the task: more would overfit small tables.
            epochs = (int)Math.Clamp(Math.Floor(limit.Value.TotalSeconds * rowsPerSecond / Math.Max(1, rows)), 1, DefaultOptions(input.Label.Kind).Epochs);
            report(0, $"{rowsPerSecond:F0} rows/s: planning {epochs} epoch(s) in {limit.Value.TotalSeconds:F0} s", true);
        }

        var progress = new ProgressAdapter(report, limit);
        var trainer = Fit(mlContext, input, encoded, epochs, limit, progress);
        return new MixerStepResult(new TransformerChain<ITransformer>(encoder, trainer), epochs, probed);
    }

    /// <summary>
    /// Rows per second of training on this machine: a short time-boxed run on the training rows (all of them, so
    /// every class is there), timed over its last progress interval so start-up does not count.
    /// </summary>
    private static double Probe(MLContext mlContext, MixerStepInput input, IDataView encoded, TimeSpan duration)
    {
        var reports = new ProgressLog();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using (Fit(mlContext, input, encoded, epochs: 1000, duration, reports) as IDisposable) { }
        // The trainer speeds up over its first seconds (allocations, caches), so the last interval is the best guess.
        var all = reports.Values;
        var last = all.Count > 0 ? all[^1] : null;
        var before = all.Take(Math.Max(0, all.Count - 1)).LastOrDefault(p => last!.Elapsed - p.Elapsed >= TimeSpan.FromSeconds(1));
        if (last is not null && before is not null)
        {
            double rows = last.RowsPerSecond * last.Elapsed.TotalSeconds - before.RowsPerSecond * before.Elapsed.TotalSeconds;
            double seconds = (last.Elapsed - before.Elapsed).TotalSeconds;
            if (rows > 0)
                return rows / seconds;
        }
        return all.Count > 0 && all[^1].RowsPerSecond > 0 ? all[^1].RowsPerSecond : input.TrainRows / Math.Max(0.001, clock.Elapsed.TotalSeconds);
    }

    private static ITransformer Fit(MLContext mlContext, MixerStepInput input, IDataView encoded, int epochs, TimeSpan? limit, IProgress<TrainingProgress> progress)
        => Configure(DefaultOptions(input.Label.Kind), input, epochs, limit, progress) switch
        {
            MixerBinaryTrainer.Options binary => mlContext.BinaryClassification.Trainers.Mixer(binary).Fit(encoded),
            MixerMulticlassTrainer.Options multiclass => mlContext.MulticlassClassification.Trainers.Mixer(multiclass).Fit(encoded),
            var options => mlContext.Regression.Trainers.Mixer((MixerRegressionTrainer.Options)options).Fit(encoded),
        };

    /// <summary>The trainer's own default options for the task.</summary>
    private static MixerTrainerOptions DefaultOptions(LearningTask task) => task switch
    {
        LearningTask.Binary => new MixerBinaryTrainer.Options(),
        LearningTask.Multiclass => new MixerMulticlassTrainer.Options(),
        _ => new MixerRegressionTrainer.Options(),
    };

    private sealed class ProgressLog : IProgress<TrainingProgress>
    {
        public List<TrainingProgress> Values { get; } = [];

        public void Report(TrainingProgress value) => Values.Add(value);
    }

    /// <summary>The device a run with these settings trains on, as the trainers resolve it (CUDA when asked or available).</summary>
    public static string DeviceName(MixerDevice requested)
        => requested != MixerDevice.Cpu && TorchSharp.torch.cuda.is_available() ? "cuda" : "cpu";

    private static TOptions Configure<TOptions>(TOptions options, MixerStepInput input, int epochs, TimeSpan? limit, IProgress<TrainingProgress> progress)
        where TOptions : MixerTrainerOptions
    {
        var settings = input.Settings;
        options.LabelColumnName = input.Label.Column;
        options.FeatureColumnName = FeaturesColumn(input.Schema);
        options.Epochs = epochs;
        options.MaxTrainingTime = limit;
        options.Device = settings.Device;
        options.Precision = settings.Precision;
        options.NumberOfThreads = settings.Threads;
        options.Seed = settings.Seed;
        options.Progress = progress;
        options.CancellationToken = input.Cancellation;
        return options;
    }

    /// <summary>"Features" unless the CSV already has a column of that name.</summary>
    private static string FeaturesColumn(CsvSchema schema) => schema.Find("Features") is null ? "Features" : "__MixerFeatures";

    /// <summary>Turns the trainer's progress reports into a fraction and a one-line status; synchronous, unlike Progress&lt;T&gt;.</summary>
    private sealed class ProgressAdapter(ProgressReport report, TimeSpan? limit) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress p)
        {
            double fraction = p.TotalSteps > 0 ? (double)p.Step / p.TotalSteps : 0;
            if (limit is { } l && l > TimeSpan.Zero)
                fraction = Math.Max(fraction, p.Elapsed / l);
            long stepsPerEpoch = p.Epochs > 0 ? Math.Max(1, p.TotalSteps / p.Epochs) : 1;
            bool epochEnd = p.Step % stepsPerEpoch == 0 || p.Step == p.TotalSteps;
            string validation = p.ValidationMetric is { } v ? $" · val {p.ValidationMetricName} {v.ToString("G4", CultureInfo.InvariantCulture)}" : "";
            string eta = p.EstimatedRemaining is { } r ? $" · ETA {Format(r)}" : "";
            report(fraction,
                $"epoch {p.Epoch}/{p.Epochs} · loss {p.Loss.ToString("F4", CultureInfo.InvariantCulture)}{validation} · {p.RowsPerSecond.ToString("N0", CultureInfo.InvariantCulture)} rows/s{eta}",
                epochEnd);
        }

        private static string Format(TimeSpan t) => t.TotalHours >= 1 ? t.ToString(@"h\:mm\:ss", CultureInfo.InvariantCulture) : t.ToString(@"m\:ss", CultureInfo.InvariantCulture);
    }
}
