using System.Globalization;
using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.Trainers.LightGbm;
using Microsoft.ML.Transforms.Onnx;

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

    /// <summary>
    /// The physical limit on one row: its multiply-adds (the channel MLPs' two products and the T x T token mixing per
    /// block) at the cores' measured FMA peak (<see cref="FmaPeak"/>, best of 5), on one core and on both.
    /// </summary>
    private static string Floor(BenchmarkContext context, int tokens, int width, int depth, int mlpRatio, double onnxSingleRowMedian)
    {
        double flops = 2.0 * depth * tokens * (2.0 * width * mlpRatio * width + (double)tokens * width);
        double Peak(int threads)
        {
            var fma = new FmaPeak(threads, context.Smoke ? 10_000 : 20_000_000);
            double best = 0;
            for (int i = 0; i < 5; i++)
            {
                var watch = System.Diagnostics.Stopwatch.StartNew();
                fma.Run();
                best = Math.Max(best, fma.Flops / watch.Elapsed.TotalSeconds / 1e9);
            }
            return best;
        }
        double one = Peak(1), two = Peak(2);
        return $"Physical floor of one row: {flops / 1e6:F2} MFLOP (channel MLPs and token mixing: 2 · depth · T · (2·d·r·d + T·d)); the FMA peak measured in this run "
             + $"({new FmaPeak(1, 1).Describe()}, registers only) is {one:F1} GFLOP/s on one thread and {two:F1} on two, so no implementation can score a row in "
             + $"less than **{flops / one / 1e3:F1} µs on one core or {flops / two / 1e3:F1} µs on both** (with perfect splitting of a {tokens}-row product); the "
             + $"1-thread ONNX Runtime row above ({onnxSingleRowMedian:F1} µs) runs at {flops / onnxSingleRowMedian / 1e3:F1} GFLOP/s, {100 * flops / onnxSingleRowMedian / 1e3 / one:F0} % of one core's peak.";
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
        int replicas = 1, batchRepeats = 1;
        var batchData = ml.Data.LoadFromEnumerable(Enumerable.Repeat(rows, replicas).SelectMany(r => r).ToList());
        context.Log.WriteLine($"   expected ~3 min: train the mixer (CLI defaults, 1 epoch) and LightGBM on credit_data, {perRound * rounds} single predictions and {rows.Count * replicas} batch rows each, two publishes");

        // The CLI's mixer: its encoding options and the trainer's defaults (64 wide, 4 deep); epochs only set training time.
        var mixerOptions = new MixerBinaryTrainer.Options { Epochs = 1, Seed = 1 };
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

        // The same ONNX scoring zip loaded by a consumer whose MLContext asks ONNX Runtime for one intra-op thread that
        // sleeps instead of spinning (ML.NET's default session: every core, spinning): the setting a single-row service uses.
        var singleThreadMl = new MLContext(seed: 1);
        singleThreadMl.SetOnnxSessionOption(new OnnxSessionOptions { CreateSessionOptions = () => SingleRowSessionOptions() });
        var onnxSingleThread = Reload(ml, singleThreadMl, onnxModel, raw.Schema);

        var models = new (string Name, ITransformer Model, MLContext Context)[]
        {
            ("TorchSharp (model.zip)", torchModel, ml),
            ("ONNX Runtime (ONNX scoring zip, ML.NET's default session)", onnxModel, ml),
            ("ONNX Runtime (ONNX scoring zip, 1 thread, no spinning)", onnxSingleThread, singleThreadMl),
            ("LightGBM", lightGbm, ml),
        };
        var engines = models.Select(m => m.Context.Model.CreatePredictionEngine<Credit, Prediction>(m.Model, new PredictionEngineOptions { OwnsTransformer = false })).ToArray();
        using var encoderEngine = ml.Model.CreatePredictionEngine<Credit, Encoded>(encoder, new PredictionEngineOptions { OwnsTransformer = false });
        byte[] graph = ExportBytes(ml, torchModel);
        using var defaultSession = new InferenceSession(graph);
        using var singleRowOptions = SingleRowSessionOptions();
        using var singleSession = new InferenceSession(graph, singleRowOptions);
        var tokenIds = encoderEngine.Predict(rows[0]).Features.Select(k => (long)k - 1).ToArray();
        using var input = OrtValue.CreateTensorValueFromMemory(tokenIds, [1, tokenIds.Length]);
        using var runOptions = new RunOptions();
        var outputNames = defaultSession.OutputMetadata.Keys.ToArray();
        (string Name, Action<int> Score)[] parts =
        [
            .. engines.Select((engine, m) => (models[m].Name, (Action<int>)(i => engine.Predict(rows[i % rows.Count])))),
            ("  part: EncodeAsCharacters alone (managed)", i => encoderEngine.Predict(rows[i % rows.Count])),
            ("  part: ONNX Runtime session alone, default options (token ids in)", _ => { using var results = defaultSession.Run(runOptions, ["token_ids"], [input], outputNames); }),
            ("  part: ONNX Runtime session alone, 1 thread, no spinning", _ => { using var results = singleSession.Run(runOptions, ["token_ids"], [input], outputNames); }),
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
            table.Add([parts[p].Name, $"{median:F1}", $"{p99:F1}", ""]);
            context.Log.WriteLine($"   {parts[p].Name.Trim()}: {median:F1} us median, {p99:F1} us p99");
        }
        var profile = Profile(graph, input, outputNames, context.Smoke ? 20 : 500);
        foreach (var row in profile.Table)
            context.Log.WriteLine($"   profile {string.Join(" | ", row)}");
        for (int m = 0; m < models.Length; m++)
        {
            string batch = $"{BatchRowsPerSecond(models[m].Model, batchData, rows.Count * replicas, batchRepeats):F0}";
            table[m] = [.. table[m].Take(3), batch];
            context.Log.WriteLine($"   {models[m].Name}: batch {batch} rows/s");
        }
        foreach (var engine in engines)
            engine.Dispose();
        (onnxModel as IDisposable)?.Dispose();
        (onnxSingleThread as IDisposable)?.Dispose();
        (torchModel.LastTransformer as IDisposable)?.Dispose();

        context.Report.Note($"credit_data (4454 rows, 13 feature columns; the mixer's row is {predictor.SequenceLength} tokens), binary. The mixer is the CLI's "
            + $"default network (width {predictor.Shape.Width}, depth {predictor.Shape.Depth}, MLP ratio {predictor.Shape.MlpRatio}, value tokens) trained 1 epoch "
            + "(epochs change the weights, not the cost of scoring); LightGBM 100 iterations on one-hot text columns. Single row: one PredictionEngine per "
            + $"model, {rounds} interleaved rounds of {perRound} Predict calls each (after 100 warm-up calls), every call timed. Batch: Transform of "
            + $"{rows.Count * replicas} rows read through a cursor, {batchRepeats} run(s). Default threads: torch {TorchSharp.torch.get_num_threads()}, "
            + "ONNX Runtime's default session (ML.NET's ApplyOnnxModel). The 'part' rows split the ONNX path's single row: the managed character encoding "
            + "and ONNX Runtime's session run (OrtValue API) of one row of token ids, no ML.NET around it. '1 thread, no spinning': the zip loaded by an MLContext "
            + "with SetOnnxSessionOption (IntraOpNumThreads 1, session.intra_op.allow_spinning 0, graph optimization ALL).");
        context.Report.Table(["model", "single row median µs", "p99 µs", "batch rows/s"], table);
        context.Report.Note(Floor(context, predictor.SequenceLength, predictor.Shape.Width, predictor.Shape.Depth, predictor.Shape.MlpRatio, onnxSingleRowMedian: double.Parse(table.First(r => r[0].StartsWith("ONNX Runtime (ONNX scoring zip, 1 thread", StringComparison.Ordinal))[1], CultureInfo.InvariantCulture)));
        context.Report.Note($"Where ONNX Runtime's time goes for one row: its own profiler (1 thread, no spinning, optimization ALL) over "
            + $"{(context.Smoke ? 20 : 500)} runs; the exported graph has {CountNodes(graph)} nodes, ONNX Runtime runs {profile.Nodes} after its fusions. "
            + "Kernel time per row by operator type, each node's median over the runs (the rest of a Run is ONNX Runtime's own per-call work).");
        context.Report.Table(["operator (after ONNX Runtime's fusions)", "nodes", "µs per row", "share"], profile.Table);

        if (context.Smoke)
            return;
        if (Environment.GetEnvironmentVariable("MLNETMIXERS_SKIP_PUBLISH") == "1")
        {
            context.Report.Note("Publish folder sizes: not measured in this run (MLNETMIXERS_SKIP_PUBLISH=1).");
            return;
        }
        var sizes = PublishSizes(context);
        context.Report.Note("Publish folder of samples/OnnxScoring (`dotnet publish -c Release -r linux-x64`, framework-dependent): as it is (MLNetMixers + "
            + "Microsoft.ML.OnnxRuntime), and the same program with TorchSharp-cpu added (`-p:WithLibTorch=true`), what a TorchSharp-scored model needs. "
            + "The ONNX folder still holds TorchSharp's managed assembly and its small native shim, which MLNetMixers references; libtorch itself is absent.");
        context.Report.Table(["consumer", "publish folder MB", "largest files"], sizes);
    }

    /// <summary>One intra-op thread that sleeps when idle: no pool to wake and no spinning core per row.</summary>
    private static SessionOptions SingleRowSessionOptions()
    {
        var options = new SessionOptions { IntraOpNumThreads = 1, InterOpNumThreads = 1, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        options.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
        options.AddSessionConfigEntry("session.inter_op.allow_spinning", "0");
        return options;
    }

    /// <summary>Saves <paramref name="model"/> and loads it in <paramref name="consumer"/>, as an application would.</summary>
    private static ITransformer Reload(MLContext producer, MLContext consumer, ITransformer model, DataViewSchema schema)
    {
        using var stream = new MemoryStream();
        producer.Model.Save(model, schema, stream);
        stream.Position = 0;
        return consumer.Model.Load(stream, out _);
    }

    /// <summary>Nodes of the exported graph: the NodeProto entries of the ModelProto's GraphProto.</summary>
    private static int CountNodes(byte[] model)
    {
        var onnxGraph = ProtoFields(model).First(f => f.Field == 7).Payload;
        return ProtoFields(onnxGraph).Count(f => f.Field == 1);
    }

    /// <summary>The length-delimited fields of a protobuf message (other wire types skipped).</summary>
    private static IEnumerable<(int Field, byte[] Payload)> ProtoFields(byte[] message)
    {
        int at = 0;
        while (at < message.Length)
        {
            ulong key = Varint(message, ref at);
            int field = (int)(key >> 3), wire = (int)(key & 7);
            switch (wire)
            {
                case 0: Varint(message, ref at); break;
                case 1: at += 8; break;
                case 5: at += 4; break;
                case 2:
                    int length = (int)Varint(message, ref at);
                    yield return (field, message[at..(at + length)]);
                    at += length;
                    break;
                default: throw new InvalidDataException($"Unexpected protobuf wire type {wire}.");
            }
        }

        static ulong Varint(byte[] bytes, ref int at)
        {
            ulong value = 0;
            for (int shift = 0; ; shift += 7)
            {
                byte b = bytes[at++];
                value |= (ulong)(b & 0x7f) << shift;
                if (b < 0x80)
                    return value;
            }
        }
    }

    /// <summary>ONNX Runtime's profiler over <paramref name="runs"/> single-row runs: kernel microseconds per row by operator type.</summary>
    private static (int Nodes, List<IReadOnlyList<string>> Table) Profile(byte[] graph, OrtValue input, string[] outputNames, int runs)
    {
        string prefix = Path.Combine(Path.GetTempPath(), "mlnetmixers-ort-profile-" + Guid.NewGuid().ToString("N"));
        string file;
        using (var options = SingleRowSessionOptions())
        {
            options.EnableProfiling = true;
            options.ProfileOutputPathPrefix = prefix;
            using var session = new InferenceSession(graph, options);
            using var runOptions = new RunOptions();
            for (int i = 0; i < runs; i++)
            {
                using var results = session.Run(runOptions, ["token_ids"], [input], outputNames);
            }
            file = session.EndProfiling();
        }
        try
        {
            using var json = System.Text.Json.JsonDocument.Parse(File.ReadAllText(file));
            var kernels = json.RootElement.EnumerateArray()
                .Where(e => e.TryGetProperty("cat", out var cat) && cat.GetString() == "Node"
                            && e.GetProperty("name").GetString()!.EndsWith("_kernel_time", StringComparison.Ordinal))
                .Select(e => (Node: e.GetProperty("name").GetString()!, Op: e.GetProperty("args").GetProperty("op_name").GetString()!, Micros: e.GetProperty("dur").GetDouble()))
                .ToList();
            // Each node's median over the runs: a loaded machine preempts some kernels for milliseconds, which a mean would count.
            var perNode = kernels.GroupBy(k => (k.Node, k.Op))
                .Select(g => (g.Key.Op, Micros: g.Select(k => k.Micros).Order().ElementAt(g.Count() / 2)))
                .ToList();
            double total = perNode.Sum(n => n.Micros);
            var table = perNode.GroupBy(n => n.Op)
                .Select(g => (Op: g.Key, Nodes: g.Count(), Micros: g.Sum(n => n.Micros)))
                .OrderByDescending(g => g.Micros)
                .Select(g => (IReadOnlyList<string>)[g.Op, $"{g.Nodes}", $"{g.Micros:F1}", $"{g.Micros / total:P0}"])
                .ToList();
            table.Add(["all kernels", $"{perNode.Count}", $"{total:F1}", "100 %"]);
            return (perNode.Count, table);
        }
        finally
        {
            File.Delete(file);
        }
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
