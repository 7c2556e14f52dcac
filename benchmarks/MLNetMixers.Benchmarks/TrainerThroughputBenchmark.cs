using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetMixers.Training;
using static TorchSharp.torch;

namespace MLNetMixers.Benchmarks;

/// <summary>
/// The project's own trainer end to end from an IDataView (reading and encoding the rows, batching, shuffling,
/// progress, validation off) against the bare TorchSharp step of the same model, in the same run.
/// Goal (issue 8): trainer throughput >= 90% of the bare step's.
/// </summary>
internal sealed class TrainerThroughputBenchmark : IBenchmark
{
    public string Name => "TrainerThroughput";

    public void Run(BenchmarkContext context)
    {
        TorchRuntime.EnsureAvailable();
        string file = context.Smoke ? "penguins.csv" : "credit_data.csv";
        string label = context.Smoke ? "species" : "Status";
        int epochs = context.Smoke ? 1 : 6;
        int batch = context.Smoke ? 16 : 256;
        var ml = new MLContext(seed: 1);
        var raw = RealBatches.LoadCsv(ml, Path.Combine(context.DatasetsFolder, "tabular", file));
        if (context.Smoke)
            raw = ml.Data.TakeRows(ml.Data.ShuffleRows(raw, seed: 1), 48);
        var data = ml.Data.Cache(ml.Transforms.Conversion.MapValueToKey("Label", label).Fit(raw).Transform(raw));
        // Digits, not value tokens: the bare step below builds the same network as the trainer only without the value embedding.
        var encoder = ml.Transforms.EncodeAsCharacters(new CharacterEncodingOptions { ExcludedColumns = [label, "Label"], NumberValueTokens = false }).Fit(data);
        var encoded = encoder.Transform(data);
        int rows = (int)(data.GetRowCount() ?? 0);
        int classes = data.GetColumn<uint>("Label").Distinct().Count();
        var options = new MixerMulticlassTrainer.Options
        {
            Epochs = epochs, BatchSize = batch, Seed = 1, Width = context.Smoke ? 8 : 64, Depth = context.Smoke ? 1 : 4,
        };
        var shape = ModelShape.Tabular with
        {
            SequenceLength = encoder.SequenceLength, VocabularySize = encoder.VocabularySize, Outputs = classes, Batch = batch,
            Width = options.Width, Depth = options.Depth, MlpRatio = options.MlpRatio,
        };
        context.Log.WriteLine($"   expected ~1 min: {file} ({rows} rows, T={shape.SequenceLength}), {epochs} epochs through the trainer, bare steps before and after");

        int bareSteps = context.Smoke ? 1 : 40;
        var before = BareStepTimes(shape, options.ResolveDropout(rows, valueTokens: false), bareSteps);
        double reportedRowsPerSecond = 0;
        options.Progress = new SynchronousProgress(p => reportedRowsPerSecond = p.RowsPerSecond);
        var watch = Stopwatch.StartNew();
        using (var model = ml.MulticlassClassification.Trainers.Mixer(options).Fit(encoded))
        {
        }
        double fitSeconds = watch.Elapsed.TotalSeconds;
        var after = BareStepTimes(shape, options.ResolveDropout(rows, valueTokens: false), bareSteps);
        // A step's median leaves out the stalls a shared machine inflicts now and then; the trainer's rows/s, a total over
        // its run, does not. Rows over the summed time of the same steps is the like-for-like throughput: both are shown.
        double MedianRate(double[] times) => batch / BenchmarkContext.Median(times);
        double MeanRate(double[] times) => batch * times.Length / times.Sum();
        double bareMedian = (MedianRate(before) + MedianRate(after)) / 2;
        double bareMean = (MeanRate(before) + MeanRate(after)) / 2;
        double endToEnd = (double)rows * epochs / fitSeconds;
        string Share(double rate, double of) => $"{100 * rate / of:F0}%";

        context.Report.Note($"{file}: {rows} rows, T={shape.SequenceLength}, V={shape.VocabularySize}, {classes} classes; model d={shape.Width} L={shape.Depth} r={shape.MlpRatio}, "
            + $"batch {batch}, dropout {options.ResolveDropout(rows, valueTokens: false)}, {epochs} epochs. \"End to end\" = rows x epochs / wall time of Fit(IDataView) (reading the cached IDataView, "
            + "encoding every row, building the token tensor, shuffling, batching, AdamW with the schedule and clipping, progress). "
            + $"\"Trainer's own\" = TrainingProgress.RowsPerSecond at the end (its loop only). Bare = steps of {batch} random rows of the same shape, "
            + $"{bareSteps} consecutive steps timed after {bareSteps} untimed, before and after the Fit, mean of the two: as rows over the median step "
            + "(the steady speed) and as rows over the summed time of those steps (a throughput that, like the trainer's, includes the machine's occasional stalls). "
            + "Both compute each batch as shards on worker threads, one per torch thread, that stay alive between runs (Training/DataParallelGradients.cs).");
        context.Report.Table(["measure", "rows/s", "% of bare (median step)", "% of bare (summed steps)"],
        [
            ["bare TorchSharp step, median step (before / after)", $"{bareMedian:F0} ({MedianRate(before):F0} / {MedianRate(after):F0})", "100%", ""],
            ["bare TorchSharp steps, summed time (before / after)", $"{bareMean:F0} ({MeanRate(before):F0} / {MeanRate(after):F0})", "", "100%"],
            ["trainer, end to end from IDataView", $"{endToEnd:F0}", Share(endToEnd, bareMedian), Share(endToEnd, bareMean)],
            ["trainer's own rows/s (TrainingProgress)", $"{reportedRowsPerSecond:F0}", Share(reportedRowsPerSecond, bareMedian), Share(reportedRowsPerSecond, bareMean)],
            ["goal", "", ">= 90%", ">= 90%"],
        ]);
        context.Log.WriteLine($"   bare {bareMedian:F0} rows/s (median step), {bareMean:F0} (summed steps); trainer end to end {endToEnd:F0} rows/s "
            + $"({Share(endToEnd, bareMedian)} / {Share(endToEnd, bareMean)}), its own {reportedRowsPerSecond:F0}");
    }

    private static double[] BareStepTimes(ModelShape shape, double dropout, int steps)
    {
        using var scope = NewDisposeScope();
        using var trainer = new BareTrainer(shape, bfloat16: false, seed: 1, dropout: dropout);
        var (tokens, targets) = BareTrainer.RandomBatch(shape, seed: 1);
        return trainer.SteadyStepTimes(tokens, targets, steps);
    }

    /// <summary>IProgress that runs on the reporting thread (Progress&lt;T&gt; would post to the thread pool).</summary>
    private sealed class SynchronousProgress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => report(value);
    }
}
