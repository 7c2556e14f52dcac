using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers.LightGbm;

namespace MLNetMixers.Benchmarks;

/// <summary>
/// Scoring speed of a trained model through ML.NET: PredictionEngine single-row latency and batch scoring
/// (Transform + cursor) rows/s, the mixer against LightGBM, on penguins (multiclass).
/// </summary>
internal sealed class InferenceBenchmark : IBenchmark
{
    public string Name => "Inference";

    public sealed class Penguin
    {
        [LoadColumn(0)] public string Species { get; set; } = "";
        [LoadColumn(1)] public string Island { get; set; } = "";
        [LoadColumn(2)] public float BillLength { get; set; }
        [LoadColumn(3)] public float BillDepth { get; set; }
        [LoadColumn(4)] public float FlipperLength { get; set; }
        [LoadColumn(5)] public float BodyMass { get; set; }
        [LoadColumn(6)] public string Sex { get; set; } = "";
    }

    public sealed class Prediction
    {
        public uint PredictedLabel { get; set; }
        public float[] Score { get; set; } = [];
    }

    private static readonly string[] FeatureColumns = ["Island", "BillLength", "BillDepth", "FlipperLength", "BodyMass", "Sex"];

    public void Run(BenchmarkContext context)
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromTextFile<Penguin>(Path.Combine(context.DatasetsFolder, "tabular", "penguins.csv"), separatorChar: ',', hasHeader: true, allowQuoting: true);
        var rows = ml.Data.CreateEnumerable<Penguin>(data, reuseRowObject: false).ToList();
        int singleRows = context.Smoke ? 5 : 3000;
        int replicas = context.Smoke ? 1 : 60;
        var batchData = ml.Data.LoadFromEnumerable(Enumerable.Repeat(rows, replicas).SelectMany(r => r).ToList());
        context.Log.WriteLine($"   expected ~1 min: train both on penguins, {singleRows} single predictions and {rows.Count * replicas} batch rows each");

        var label = ml.Transforms.Conversion.MapValueToKey("Label", nameof(Penguin.Species));
        var mixerOptions = new MixerMulticlassTrainer.Options { Epochs = context.Smoke ? 1 : 10, Seed = 1 };
        if (context.Smoke)
        {
            mixerOptions.Width = 8;
            mixerOptions.Depth = 1;
        }
        var mixer = label
            .Append(ml.Transforms.EncodeAsCharacters(new CharacterEncodingOptions { InputColumnNames = FeatureColumns }))
            .Append(ml.MulticlassClassification.Trainers.Mixer(mixerOptions))
            .Fit(data);
        var lightGbm = label
            .Append(ml.Transforms.Categorical.OneHotEncoding("IslandCode", nameof(Penguin.Island)))
            .Append(ml.Transforms.Categorical.OneHotEncoding("SexCode", nameof(Penguin.Sex)))
            .Append(ml.Transforms.Concatenate("Features", "IslandCode", "SexCode", nameof(Penguin.BillLength), nameof(Penguin.BillDepth), nameof(Penguin.FlipperLength), nameof(Penguin.BodyMass)))
            .Append(ml.MulticlassClassification.Trainers.LightGbm(new LightGbmMulticlassTrainer.Options { NumberOfIterations = context.Smoke ? 5 : 100, Seed = 1 }))
            .Fit(data);

        var table = new List<IReadOnlyList<string>>();
        foreach (var (name, model) in new (string, ITransformer)[] { ("Mixer", mixer), ("LightGBM", lightGbm) })
        {
            var (median, p99) = SingleRowLatency(ml, model, rows, singleRows);
            double rowsPerSecond = BatchRowsPerSecond(model, batchData, rows.Count * replicas, context.Smoke ? 1 : 3);
            table.Add([name, $"{median:F1}", $"{p99:F1}", $"{1e6 / median:F0}", $"{rowsPerSecond:F0}"]);
            context.Log.WriteLine($"   {name}: {median:F1} us median, {p99:F1} us p99, batch {rowsPerSecond:F0} rows/s");
        }
        (mixer as IDisposable)?.Dispose();
        double parallelFor = EmptyParallelForMicroseconds(singleRows);
        context.Log.WriteLine($"   empty Parallel.For over 3 items: {parallelFor:F1} us median");
        context.Report.Note($"penguins (344 rows, 6 feature columns; the mixer's row is {FeatureColumns.Length} encoded fields). Single row: one PredictionEngine, "
            + $"{singleRows} Predict calls over the rows in turn after 100 warm-up calls, each timed. Batch: Transform of {rows.Count * replicas} rows "
            + "(the dataset repeated) read through a cursor (PredictedLabel and Score), median of 3. Default threads; both pipelines include their featurisation. "
            + "ML.NET scores a LightGBM multiclass model as one-versus-all, and its OneVersusAllModelParameters runs the per-class trees of every single row "
            + $"in a Parallel.For (src/Microsoft.ML.StandardTrainers/.../OneVersusAllTrainer.cs): LightGBM's single-row latency therefore includes waking "
            + $"thread-pool workers, which varies with the machine's load. An empty Parallel.For over 3 items took {parallelFor:F1} µs (median) in this run.");
        context.Report.Table(["model", "single row median µs", "p99 µs", "single rows/s", "batch rows/s"], table);
    }

    private static (double Median, double P99) SingleRowLatency(MLContext ml, ITransformer model, List<Penguin> rows, int count)
    {
        // ML.NET's engine disposes the model it wraps unless told otherwise; the model is scored again afterwards.
        using var engine = ml.Model.CreatePredictionEngine<Penguin, Prediction>(model, new PredictionEngineOptions { OwnsTransformer = false });
        for (int i = 0; i < Math.Min(100, count); i++)
            engine.Predict(rows[i % rows.Count]);
        var micros = new double[count];
        for (int i = 0; i < count; i++)
        {
            long start = Stopwatch.GetTimestamp();
            engine.Predict(rows[i % rows.Count]);
            micros[i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
        }
        Array.Sort(micros);
        return (micros[count / 2], micros[Math.Min(count - 1, (int)(count * 0.99))]);
    }

    private static double EmptyParallelForMicroseconds(int count)
    {
        var micros = new double[count];
        for (int i = 0; i < count; i++)
        {
            long start = Stopwatch.GetTimestamp();
            Parallel.For(0, 3, _ => { });
            micros[i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
        }
        return BenchmarkContext.Median(micros);
    }

    private static double BatchRowsPerSecond(ITransformer model, IDataView data, int rowCount, int repeats)
    {
        double seconds = BenchmarkContext.MedianSeconds(() =>
        {
            var scored = model.Transform(data);
            using var cursor = scored.GetRowCursor([scored.Schema["PredictedLabel"], scored.Schema["Score"]]);
            var predicted = cursor.GetGetter<uint>(scored.Schema["PredictedLabel"]);
            var score = cursor.GetGetter<VBuffer<float>>(scored.Schema["Score"]);
            uint key = 0;
            VBuffer<float> scores = default;
            while (cursor.MoveNext())
            {
                predicted(ref key);
                score(ref scores);
            }
        }, repeats);
        return rowCount / seconds;
    }
}
