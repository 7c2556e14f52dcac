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
        var encoder = ml.Transforms.EncodeAsCharacters(new CharacterEncodingOptions { ExcludedColumns = [label, "Label"] }).Fit(data);
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

        int bareSteps = context.Smoke ? 1 : 15;
        double bareBefore = BareRowsPerSecond(shape, options.ResolveDropout(rows), bareSteps);
        double reportedRowsPerSecond = 0;
        options.Progress = new SynchronousProgress(p => reportedRowsPerSecond = p.RowsPerSecond);
        var watch = Stopwatch.StartNew();
        using (var model = ml.MulticlassClassification.Trainers.Mixer(options).Fit(encoded))
        {
        }
        double fitSeconds = watch.Elapsed.TotalSeconds;
        double bareAfter = BareRowsPerSecond(shape, options.ResolveDropout(rows), bareSteps);
        double bare = (bareBefore + bareAfter) / 2;
        double endToEnd = (double)rows * epochs / fitSeconds;

        context.Report.Note($"{file}: {rows} rows, T={shape.SequenceLength}, V={shape.VocabularySize}, {classes} classes; model d={shape.Width} L={shape.Depth} r={shape.MlpRatio}, "
            + $"batch {batch}, dropout {options.ResolveDropout(rows)}, {epochs} epochs. \"End to end\" = rows x epochs / wall time of Fit(IDataView) (reading the cached IDataView, "
            + "encoding every row, building the token tensor, shuffling, batching, AdamW with the schedule and clipping, progress). "
            + $"\"Trainer's own\" = TrainingProgress.RowsPerSecond at the end (its loop only). Bare = 1 step of {batch} random rows of the same shape "
            + $"(median of {bareSteps}, after {bareSteps} untimed), before and after the Fit, mean of the two. Both compute each batch as shards, one per torch thread, "
            + "on worker threads that stay alive between runs (Training/DataParallelGradients.cs).");
        context.Report.Table(["measure", "rows/s", "% of bare step"],
        [
            ["bare TorchSharp step (before / after)", $"{bare:F0} ({bareBefore:F0} / {bareAfter:F0})", "100%"],
            ["trainer, end to end from IDataView", $"{endToEnd:F0}", $"{100 * endToEnd / bare:F0}%"],
            ["trainer's own rows/s (TrainingProgress)", $"{reportedRowsPerSecond:F0}", $"{100 * reportedRowsPerSecond / bare:F0}%"],
            ["goal", "", ">= 90%"],
        ]);
        context.Log.WriteLine($"   bare {bare:F0} rows/s, trainer end to end {endToEnd:F0} rows/s ({100 * endToEnd / bare:F0}%), its own {reportedRowsPerSecond:F0}");
    }

    private static double BareRowsPerSecond(ModelShape shape, double dropout, int steps)
    {
        using var scope = NewDisposeScope();
        using var trainer = new BareTrainer(shape, bfloat16: false, seed: 1, dropout: dropout);
        var (tokens, targets) = BareTrainer.RandomBatch(shape, seed: 1);
        return shape.Batch / trainer.SteadyStepSeconds(tokens, targets, steps);
    }

    /// <summary>IProgress that runs on the reporting thread (Progress&lt;T&gt; would post to the thread pool).</summary>
    private sealed class SynchronousProgress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => report(value);
    }
}
