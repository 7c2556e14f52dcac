using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.Trainers.LightGbm;

namespace MLNetMixers.Benchmarks;

/// <summary>
/// Scoring the CLI's default credit_data model three ways in one run: TorchSharp (model.zip), ONNX Runtime (the ONNX
/// scoring zip) and LightGBM; PredictionEngine single-row latency (interleaved rounds) and batch rows/s; plus the parts
/// of the ONNX path (the managed encoder alone, the ONNX Runtime session alone) and the publish folder of a consumer
/// with ONNX Runtime against the same consumer with libtorch.
/// </summary>
internal sealed class OnnxInferenceBenchmark : IBenchmark
{
    public string Name => "OnnxInference";

    public sealed class Credit
    {
        [LoadColumn(0)] public string Status { get; set; } = "";
        [LoadColumn(1)] public float Seniority { get; set; }
        [LoadColumn(2)] public string Home { get; set; } = "";
        [LoadColumn(3)] public float Time { get; set; }
        [LoadColumn(4)] public float Age { get; set; }
        [LoadColumn(5)] public string Marital { get; set; } = "";
        [LoadColumn(6)] public string Records { get; set; } = "";
        [LoadColumn(7)] public string Job { get; set; } = "";
        [LoadColumn(8)] public float Expenses { get; set; }
        [LoadColumn(9)] public float Income { get; set; }
        [LoadColumn(10)] public float Assets { get; set; }
        [LoadColumn(11)] public float Debt { get; set; }
        [LoadColumn(12)] public float Amount { get; set; }
        [LoadColumn(13)] public float Price { get; set; }
    }

    public sealed class Prediction
    {
        public bool PredictedLabel { get; set; }
        public float Probability { get; set; }
        public float Score { get; set; }
    }

    public sealed class Encoded
    {
        [VectorType]
        public uint[] Features { get; set; } = [];
    }

    private static readonly string[] TextColumns = ["Home", "Marital", "Records", "Job"];
    private static readonly string[] FeatureColumns = ["Seniority", "Home", "Time", "Age", "Marital", "Records", "Job", "Expenses", "Income", "Assets", "Debt", "Amount", "Price"];

    public void Run(BenchmarkContext context)
    {
        var ml = new MLContext(seed: 1);
        var raw = ml.Data.LoadFromTextFile<Credit>(Path.Combine(context.DatasetsFolder, "tabular", "credit_data.csv"), separatorChar: ',', hasHeader: true, allowQuoting: true);
        var label = ml.Transforms.Conversion.MapValue("Label", new Dictionary<string, bool> { ["good"] = true, ["bad"] = false }, nameof(Credit.Status));
        var data = ml.Data.Cache(label.Fit(raw).Transform(raw));
        var rows = ml.Data.CreateEnumerable<Credit>(raw, reuseRowObject: false).ToList();
        int perRound = context.Smoke ? 5 : 300, rounds = context.Smoke ? 1 : 3;
        int replicas = context.Smoke ? 1 : 2;
        var batchData = ml.Data.LoadFromEnumerable(Enumerable.Repeat(rows, replicas).SelectMany(r => r).ToList());
        context.Log.WriteLine($"   expected ~3 min: train the mixer (CLI defaults, 2 epochs) and LightGBM on credit_data, {perRound * rounds} single predictions and {rows.Count * replicas} batch rows each, two publishes");

        // The CLI's mixer: its encoding options and the trainer's defaults (64 wide, 4 deep); epochs only set training time.
        var mixerOptions = new MixerBinaryTrainer.Options { Epochs = context.Smoke ? 1 : 2, Seed = 1 };
        var encoding = new CharacterEncodingOptions { InputColumnNames = FeatureColumns, MissingTextValues = [""] };
        if (context.Smoke)
        {
            mixerOptions.Width = 8;
            mixerOptions.Depth = 1;
        }
        var torchModel = label.Append(ml.Transforms.EncodeAsCharacters(encoding)).Append(ml.BinaryClassification.Trainers.Mixer(mixerOptions)).Fit(raw);
        var lightGbm = label
            .Append(ml.Transforms.Categorical.OneHotEncoding([.. TextColumns.Select(c => new InputOutputColumnPair(c + "Code", c))]))
            .Append(ml.Transforms.Concatenate("Features", [.. FeatureColumns.Select(c => TextColumns.Contains(c) ? c + "Code" : c)]))
            .Append(ml.BinaryClassification.Trainers.LightGbm(new LightGbmBinaryTrainer.Options { NumberOfIterations = context.Smoke ? 5 : 100, Seed = 1 }))
            .Fit(raw);
        var onnxModel = ml.Model.ConvertToOnnxScoring(torchModel, raw.Schema);
        var predictor = (MixerPredictionTransformer)torchModel.LastTransformer;
        var encoder = torchModel.Take(2).Last();

        var models = new (string Name, ITransformer Model)[] { ("TorchSharp (model.zip)", torchModel), ("ONNX Runtime (ONNX scoring zip)", onnxModel), ("LightGBM", lightGbm) };
        var engines = models.Select(m => ml.Model.CreatePredictionEngine<Credit, Prediction>(m.Model, new PredictionEngineOptions { OwnsTransformer = false })).ToArray();
        using var encoderEngine = ml.Model.CreatePredictionEngine<Credit, Encoded>(encoder, new PredictionEngineOptions { OwnsTransformer = false });
        using var session = new InferenceSession(ExportBytes(ml, torchModel));
        var tokenIds = encoderEngine.Predict(rows[0]).Features.Select(k => (long)k - 1).ToArray();
        using var input = OrtValue.CreateTensorValueFromMemory(tokenIds, [1, tokenIds.Length]);
        using var runOptions = new RunOptions();
        var outputNames = session.OutputMetadata.Keys.ToArray();
        (string Name, Action<int> Score)[] parts =
        [
            .. engines.Select((engine, m) => (models[m].Name, (Action<int>)(i => engine.Predict(rows[i % rows.Count])))),
            ("  part: EncodeAsCharacters alone (managed)", i => encoderEngine.Predict(rows[i % rows.Count])),
            ("  part: ONNX Runtime session alone (token ids in)", _ => { using var results = session.Run(runOptions, ["token_ids"], [input], outputNames); }),
        ];

        // Interleaved: every part scores perRound rows in turn, for several rounds, so load changes hit all alike.
        var micros = parts.Select(_ => new List<double>()).ToArray();
        foreach (var (_, score) in parts)
        {
            for (int i = 0; i < Math.Min(100, perRound); i++)
                score(i);
        }
        for (int round = 0; round < rounds; round++)
        {
            context.Log.WriteLine($"   single-row round {round + 1} of {rounds}");
            for (int p = 0; p < parts.Length; p++)
            {
                for (int i = 0; i < perRound; i++)
                {
                    long start = Stopwatch.GetTimestamp();
                    parts[p].Score(round * perRound + i);
                    micros[p].Add(Stopwatch.GetElapsedTime(start).TotalMicroseconds);
                }
            }
        }

        var table = new List<IReadOnlyList<string>>();
        for (int p = 0; p < parts.Length; p++)
        {
            var sorted = micros[p].Order().ToArray();
            double median = sorted[sorted.Length / 2], p99 = sorted[Math.Min(sorted.Length - 1, (int)(sorted.Length * 0.99))];
            string batch = p < models.Length ? $"{BatchRowsPerSecond(models[p].Model, batchData, rows.Count * replicas, context.Smoke ? 1 : 2):F0}" : "";
            table.Add([parts[p].Name, $"{median:F1}", $"{p99:F1}", batch]);
            context.Log.WriteLine($"   {parts[p].Name.Trim()}: {median:F1} us median, {p99:F1} us p99{(batch.Length > 0 ? $", batch {batch} rows/s" : "")}");
        }
        foreach (var engine in engines)
            engine.Dispose();
        (onnxModel as IDisposable)?.Dispose();
        (torchModel.LastTransformer as IDisposable)?.Dispose();

        context.Report.Note($"credit_data (4454 rows, 13 feature columns; the mixer's row is {predictor.SequenceLength} tokens), binary. The mixer is the CLI's "
            + $"default network (width {predictor.Shape.Width}, depth {predictor.Shape.Depth}, MLP ratio {predictor.Shape.MlpRatio}, value tokens) trained 2 epochs "
            + "(epochs change the weights, not the cost of scoring); LightGBM 100 iterations on one-hot text columns. Single row: one PredictionEngine per "
            + $"model, {rounds} interleaved rounds of {perRound} Predict calls each (after 100 warm-up calls), every call timed. Batch: Transform of "
            + $"{rows.Count * replicas} rows (the dataset repeated) read through a cursor, median of 2. Default threads: torch {TorchSharp.torch.get_num_threads()}, "
            + "ONNX Runtime's default session (ML.NET's ApplyOnnxModel). The two 'part' rows split the ONNX path's single row: the managed character encoding "
            + "and ONNX Runtime's session run of one row of token ids (no ML.NET around it).");
        context.Report.Table(["model", "single row median µs", "p99 µs", "batch rows/s"], table);

        if (context.Smoke)
            return;
        var sizes = PublishSizes(context);
        context.Report.Note("Publish folder of samples/OnnxScoring (`dotnet publish -c Release -r linux-x64`, framework-dependent): as it is (MLNetMixers + "
            + "Microsoft.ML.OnnxRuntime), and the same program with TorchSharp-cpu added (`-p:WithLibTorch=true`), what a TorchSharp-scored model needs. "
            + "The ONNX folder still holds TorchSharp's managed assembly and its small native shim, which MLNetMixers references; libtorch itself is absent.");
        context.Report.Table(["consumer", "publish folder MB", "largest files"], sizes);
    }

    private static byte[] ExportBytes(MLContext ml, ITransformer model)
    {
        using var stream = new MemoryStream();
        ml.Model.ExportToOnnx(model, stream);
        return stream.ToArray();
    }

    private static double BatchRowsPerSecond(ITransformer model, IDataView data, int rowCount, int repeats)
    {
        double seconds = BenchmarkContext.MedianSeconds(() =>
        {
            var scored = model.Transform(data);
            using var cursor = scored.GetRowCursor([scored.Schema["PredictedLabel"], scored.Schema["Score"]]);
            var predicted = cursor.GetGetter<bool>(scored.Schema["PredictedLabel"]);
            var score = cursor.GetGetter<float>(scored.Schema["Score"]);
            bool label = false;
            float value = 0;
            while (cursor.MoveNext())
            {
                predicted(ref label);
                score(ref value);
            }
        }, repeats);
        return rowCount / seconds;
    }

    private static List<IReadOnlyList<string>> PublishSizes(BenchmarkContext context)
    {
        string project = Path.Combine(BenchmarkRunner.FindRepository(), "samples", "OnnxScoring", "OnnxScoring.csproj");
        var table = new List<IReadOnlyList<string>>();
        foreach (var (name, property) in new[] { ("ONNX Runtime (no libtorch)", "false"), ("with TorchSharp-cpu (libtorch)", "true") })
        {
            string folder = Path.Combine(Path.GetTempPath(), "mlnetmixers-publish-" + Guid.NewGuid().ToString("N"));
            try
            {
                var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
                {
                    RedirectStandardOutput = true,
                    RedirectStandardError = true,
                };
                foreach (string arg in new[] { "publish", project, "-c", "Release", "-r", "linux-x64", "--self-contained", "false", $"-p:WithLibTorch={property}", "-o", folder, "-nologo" })
                    start.ArgumentList.Add(arg);
                using var process = Process.Start(start)!;
                string log = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
                process.WaitForExit();
                if (process.ExitCode != 0)
                    throw new InvalidOperationException($"dotnet publish failed:\n{log}");
                var files = new DirectoryInfo(folder).GetFiles("*", SearchOption.AllDirectories);
                double megabytes = files.Sum(f => f.Length) / 1e6;
                string largest = string.Join(", ", files.OrderByDescending(f => f.Length).Take(3).Select(f => $"{f.Name} {f.Length / 1e6:F0} MB"));
                table.Add([name, $"{megabytes:F0}", largest]);
                context.Log.WriteLine($"   publish {name}: {megabytes:F0} MB ({largest})");
            }
            finally
            {
                if (Directory.Exists(folder))
                    Directory.Delete(folder, recursive: true);
            }
        }
        return table;
    }
}
