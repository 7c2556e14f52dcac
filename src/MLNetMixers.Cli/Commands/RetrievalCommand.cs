using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetMixers.Cli.Data;
using MLNetMixers.Cli.Retrieval;
using MLNetMixers.Cli.Terminal;

namespace MLNetMixers.Cli.Commands;

/// <summary>
/// <c>retrieval</c>: trains a mixer retriever on (query, document) pairs of a CSV file and evaluates it on held-out
/// pairs against BM25 and TF-IDF, frozen language-model embeddings and the transformer at matched weights.
/// </summary>
internal static class RetrievalCommand
{
    public static Command Create(Option<bool> verbose)
    {
        var dataset = new Option<string>("--dataset", "-d") { Description = "CSV of pairs: one query column and one document column per row.", Required = true };
        var queryCol = new Option<string>("--query-col") { Description = "The query column (e.g. a one-line summary).", Required = true };
        var documentCol = new Option<string>("--document-col") { Description = "The document column each query should find.", Required = true };
        var validation = new Option<string?>("--validation-dataset") { Description = "A CSV with the same columns to evaluate on, instead of a split." };
        var split = new Option<double>("--split") { Description = "Fraction of pairs held out when no validation dataset is given.", DefaultValueFactory = _ => 0.05 };
        var evalPairs = new Option<int>("--eval-pairs") { Description = "Most held-out pairs evaluated (each query among all of them).", DefaultValueFactory = _ => 1500 };
        var trainTime = new Option<string?>("--train-time") { Description = "InfoNCE time budget per architecture: 90, 90s, 5m, 1h (default 5m)." };
        var pretrainSteps = new Option<int>("--pretrain-steps") { Description = "Language-model steps before InfoNCE (frozen embeddings are evaluated after them); 0 (the default) trains the towers from scratch.", DefaultValueFactory = _ => 0 };
        var architectures = new Option<string[]>("--architectures")
        {
            Description = "masked-mixer, transformer, toeplitz-mixer (comma-separated; the first one's retriever is saved). Widths after the first match the masked mixer's weights.",
            AllowMultipleArgumentsPerToken = true,
            DefaultValueFactory = _ => ["masked-mixer", "transformer"],
        };
        var context = new Option<int>("--context") { Description = "Context length in tokens: texts are cut to their start.", DefaultValueFactory = _ => 160 };
        var tokenization = new Option<string>("--tokenizer") { Description = "subwords (byte-pair merges learned from the training pairs) or characters.", DefaultValueFactory = _ => "subwords" };
        var vocabulary = new Option<int>("--vocabulary-size") { Description = "Subword vocabulary (bytes, merges, end of text) with --tokenizer subwords.", DefaultValueFactory = _ => 8192 };
        var width = new Option<int>("--width") { Description = "Width (embedding length) of the masked mixer.", DefaultValueFactory = _ => 256 };
        var depth = new Option<int>("--depth") { Description = "Blocks per tower.", DefaultValueFactory = _ => 2 };
        var batch = new Option<int>("--batch-size") { Description = "Queries per InfoNCE step.", DefaultValueFactory = _ => 64 };
        var learningRate = new Option<double>("--learning-rate") { Description = "Peak InfoNCE learning rate (the default suits towers from scratch; 5e-4 keeps more of a pretrained language model).", DefaultValueFactory = _ => 1e-2 };
        var temperature = new Option<double>("--temperature") { Description = "InfoNCE temperature τ.", DefaultValueFactory = _ => 0.02 };
        var negatives = new Option<string>("--negatives") { Description = "in-batch (the batch's other documents) or sampled (--candidates - 1 random documents per query).", DefaultValueFactory = _ => "in-batch" };
        negatives.AcceptOnlyFromAmong("in-batch", "sampled");
        var candidates = new Option<int>("--candidates") { Description = "Candidates per query with sampled negatives.", DefaultValueFactory = _ => 8 };
        var pooling = new Option<string>("--pooling") { Description = "mean (default), last-token or end-of-text.", DefaultValueFactory = _ => "mean" };
        pooling.AcceptOnlyFromAmong("last-token", "mean", "end-of-text");
        var measurePooling = new Option<bool>("--measure-pooling") { Description = "Also evaluate the frozen language model with every pooling." };
        var tokenDropout = new Option<double>("--token-dropout")
        {
            Description = "Share of each training text's tokens left out at random every step, against memorising the pairs; 0 turns it off.",
            DefaultValueFactory = _ => new MixerRetrievalOptions().TokenDropout,
        };
        var separate = new Option<bool>("--separate-towers") { Description = "Give queries and documents separate copies of the model." };
        var device = CliApp.DeviceOption("Where the models train.");
        var output = new Option<string>("--output", "-o") { Description = "Folder for model.zip and metrics.json.", DefaultValueFactory = _ => "mlnet-mixers-retrieval" };
        var seed = new Option<int>("--seed") { Description = "Seed for the split, the models and the evaluation's candidates.", DefaultValueFactory = _ => 1 };
        var threads = new Option<int?>("--threads") { Description = $"CPU threads for torch (default {CliApp.DefaultThreads})." };
        var checkpoints = new Option<string?>("--checkpoints") { Description = "Folder for periodic InfoNCE checkpoints (one subfolder per architecture); a rerun with the same settings resumes from them." };

        var command = new Command("retrieval", "Train a mixer retriever on (query, document) pairs of a CSV file and compare it with BM25 and TF-IDF on held-out pairs.")
        {
            dataset, queryCol, documentCol, validation, split, evalPairs, trainTime, pretrainSteps, architectures, context, tokenization, vocabulary, width, depth, batch,
            learningRate, temperature, negatives, candidates, pooling, measurePooling, tokenDropout, separate, device, output, seed, threads, checkpoints,
        };
        command.SetAction(parse =>
        {
            var ui = new ConsoleUi(parse.GetValue(verbose));
            int? threadCount = CliApp.Positive(parse.GetValue(threads), "--threads") ?? CliApp.DefaultThreads;
            CliApp.ApplyThreads(threadCount);
            double fraction = parse.GetValue(split);
            if (!(fraction > 0 && fraction < 1))
                throw new CliException($"--split must be between 0 and 1; got {fraction.ToString(CultureInfo.InvariantCulture)}.");
            double tau = parse.GetValue(temperature);
            if (!(tau > 0) || double.IsInfinity(tau))
                throw new CliException("--temperature must be a positive number.");
            double dropTokens = parse.GetValue(tokenDropout);
            if (!(dropTokens >= 0 && dropTokens < 1))
                throw new CliException($"--token-dropout must be at least 0 and below 1; got {dropTokens.ToString(CultureInfo.InvariantCulture)}.");
            if (parse.GetValue(pretrainSteps) < 0)
                throw new CliException("--pretrain-steps must not be negative.");
            var settings = new RetrievalExperimentSettings
            {
                Architectures = CliApp.SplitList(parse.GetValue(architectures)).Select(ParseArchitecture).Distinct().ToList(),
                PretrainSteps = parse.GetValue(pretrainSteps),
                TrainTime = CliApp.ParseDuration(parse.GetValue(trainTime)) ?? TimeSpan.FromMinutes(5),
                ContextLength = AtLeast(parse.GetValue(context), 4, "--context"),
                Tokenization = parse.GetValue(tokenization)?.Trim().ToLowerInvariant() switch
                {
                    "characters" or "chars" => TextTokenization.Characters,
                    "subwords" or "bpe" => TextTokenization.Subwords,
                    var other => throw new CliException($"--tokenizer must be characters or subwords; got '{other}'."),
                },
                SubwordVocabularySize = AtLeast(parse.GetValue(vocabulary), 257, "--vocabulary-size"),
                Width = AtLeast(parse.GetValue(width), 4, "--width"),
                Depth = AtLeast(parse.GetValue(depth), 1, "--depth"),
                BatchSize = AtLeast(parse.GetValue(batch), 2, "--batch-size"),
                Temperature = tau,
                LearningRate = parse.GetValue(learningRate) is var lr && lr > 0 && double.IsFinite(lr) ? lr : throw new CliException("--learning-rate must be a positive number."),
                Negatives = parse.GetValue(negatives) == "sampled" ? RetrievalNegatives.Sampled : RetrievalNegatives.InBatch,
                Candidates = AtLeast(parse.GetValue(candidates), 2, "--candidates"),
                Pooling = ParsePooling(parse.GetValue(pooling)),
                MeasurePooling = parse.GetValue(measurePooling),
                TokenDropout = dropTokens,
                SeparateTowers = parse.GetValue(separate),
                Seed = parse.GetValue(seed),
                Threads = threadCount,
                Device = CliApp.ParseDevice(parse.GetValue(device)),
                CheckpointFolder = parse.GetValue(checkpoints) is { Length: > 0 } folder ? Path.GetFullPath(folder) : null,
            };
            if (settings.Architectures.Count == 0)
                throw new CliException("--architectures names no architecture.");
            using var cancellation = CliApp.CancelOnCtrlC();
            return Run(parse.GetValue(dataset)!, parse.GetValue(validation), parse.GetValue(queryCol)!, parse.GetValue(documentCol)!, fraction,
                       AtLeast(parse.GetValue(evalPairs), 2, "--eval-pairs"), settings, parse.GetValue(output)!, ui, cancellation.Token);
        });
        return command;
    }

    private static int Run(string datasetPath, string? validationPath, string queryColumn, string documentColumn, double split, int maxEvalPairs,
                           RetrievalExperimentSettings settings, string output, ConsoleUi ui, CancellationToken cancellation)
    {
        if (queryColumn == documentColumn)
            throw new CliException($"--query-col and --document-col are both '{queryColumn}'.");
        var (queries, documents, skipped) = PairsFile.Read(datasetPath, queryColumn, documentColumn);
        ui.Line($"{Path.GetFileName(datasetPath)}: {queries.Count:N0} pairs" + (skipped > 0 ? $" ({skipped:N0} rows with an empty query or document left out)" : "") + ".");
        List<string> trainQ, trainD, testQ, testD;
        if (validationPath is not null)
        {
            (trainQ, trainD) = (queries, documents);
            (testQ, testD, int skippedTest) = PairsFile.Read(validationPath, queryColumn, documentColumn);
            ui.Line($"{Path.GetFileName(validationPath)}: {testQ.Count:N0} held-out pairs" + (skippedTest > 0 ? $" ({skippedTest:N0} with an empty field left out)" : "") + ".");
        }
        else
        {
            // A seeded shuffle, so the held-out pairs come from the whole file (neighbouring packages are near-duplicates).
            var order = Enumerable.Range(0, queries.Count).ToArray();
            new Random(settings.Seed).Shuffle(order);
            int heldOut = Math.Max(2, (int)Math.Round(queries.Count * split));
            if (queries.Count - heldOut < settings.BatchSize)
                throw new CliException($"'{datasetPath}' has {queries.Count} pairs: too few to hold out {heldOut} and train on batches of {settings.BatchSize}.");
            testQ = order[..heldOut].Select(i => queries[i]).ToList();
            testD = order[..heldOut].Select(i => documents[i]).ToList();
            trainQ = order[heldOut..].Select(i => queries[i]).ToList();
            trainD = order[heldOut..].Select(i => documents[i]).ToList();
        }
        if (testQ.Count > maxEvalPairs)
        {
            ui.Line($"Evaluating on the first {maxEvalPairs:N0} of {testQ.Count:N0} held-out pairs (--eval-pairs).");
            testQ = testQ[..maxEvalPairs];
            testD = testD[..maxEvalPairs];
        }
        if (testQ.Count < 2)
            throw new CliException("Retrieval needs at least 2 held-out pairs.");
        ui.Line($"Training on {trainQ.Count:N0} pairs, evaluating on {testQ.Count:N0}: top-1 among k = {string.Join(", ", settings.CandidateCounts.Where(k => k <= testQ.Count))} candidates, recall@10, MRR.");

        var mlContext = new MLContext(settings.Seed) { FallbackToCpu = true };
        ui.ForwardTrainerLog(mlContext);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var (methods, model) = RetrievalExperiment.Run(mlContext, trainQ, trainD, testQ, testD, settings, queryColumn, documentColumn, ui.Line,
            title => new RetrievalProgress(ui, title), title => new LanguageModelProgress(ui, title), cancellation);
        using (model)
        {
            Directory.CreateDirectory(output);
            string modelPath = Path.Combine(output, TrainRunner.ModelFileName);
            mlContext.Model.Save(model, PairsFile.Schema(mlContext, queryColumn, documentColumn), modelPath);
            WriteMetrics(Path.Combine(output, TrainRunner.MetricsFileName), datasetPath, validationPath, queryColumn, documentColumn, trainQ.Count, testQ.Count,
                         settings, methods, clock.Elapsed.TotalSeconds);
            ui.Heading("Held-out retrieval");
            foreach (var m in methods)
                ui.Line($"  {m.Name,-52} {string.Join("  ", m.Metrics.TopOneAccuracy.Select(p => $"top-1@{p.Key} {p.Value,6:P1}"))}  R@10 {m.Metrics.RecallAt10,6:P1}  MRR {m.Metrics.MeanReciprocalRank:F3}");
            ui.Line($"Wrote {Path.GetFullPath(modelPath)} ({methods.First(m => m.Kind == "trained").Name}, {model.ParameterCount:N0} weights) and metrics.json.");
        }
        return 0;
    }

    private static void WriteMetrics(string path, string dataset, string? validation, string queryColumn, string documentColumn, int trainPairs, int testPairs,
                                     RetrievalExperimentSettings s, List<MethodResult> methods, double seconds)
    {
        var list = new JsonArray();
        foreach (var m in methods)
        {
            var top1 = new JsonObject();
            foreach (var (k, value) in m.Metrics.TopOneAccuracy)
                top1[k.ToString(CultureInfo.InvariantCulture)] = Math.Round(value, 4);
            list.Add(new JsonObject
            {
                ["name"] = m.Name,
                ["kind"] = m.Kind,
                ["parameters"] = m.Parameters,
                ["trainSeconds"] = Math.Round(m.TrainSeconds, 1),
                ["top1AmongK"] = top1,
                ["recallAt10"] = Math.Round(m.Metrics.RecallAt10, 4),
                ["mrr"] = Math.Round(m.Metrics.MeanReciprocalRank, 4),
                ["indexDocumentsPerSecond"] = Math.Round(m.IndexDocumentsPerSecond, 1),
                ["msPerQuery"] = Math.Round(m.MillisecondsPerQuery, 3),
            });
        }
        var json = new JsonObject
        {
            ["tool"] = "mlnet-mixers",
            ["task"] = "retrieval",
            ["dataset"] = Path.GetFullPath(dataset),
            ["validationDataset"] = validation is null ? null : Path.GetFullPath(validation),
            ["queryColumn"] = queryColumn,
            ["documentColumn"] = documentColumn,
            ["trainPairs"] = trainPairs,
            ["heldOutPairs"] = testPairs,
            ["tokenizer"] = s.Tokenization == TextTokenization.Subwords ? $"subwords ({s.SubwordVocabularySize})" : "characters",
            ["contextLength"] = s.ContextLength,
            ["depth"] = s.Depth,
            ["pretrainSteps"] = s.PretrainSteps,
            ["trainTimeSecondsPerArchitecture"] = s.TrainTime.TotalSeconds,
            ["temperature"] = s.Temperature,
            ["negatives"] = s.Negatives == RetrievalNegatives.InBatch ? "in-batch" : "sampled",
            ["pooling"] = RetrievalExperiment.PoolingName(s.Pooling),
            ["seconds"] = Math.Round(seconds, 1),
            ["methods"] = list,
        };
        File.WriteAllText(path, json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    private static int AtLeast(int value, int minimum, string option)
        => value >= minimum ? value : throw new CliException($"{option} must be at least {minimum}; got {value}.");

    private static MixerLanguageModelArchitecture ParseArchitecture(string name) => name.ToLowerInvariant() switch
    {
        "masked-mixer" or "maskedmixer" => MixerLanguageModelArchitecture.MaskedMixer,
        "transformer" => MixerLanguageModelArchitecture.Transformer,
        "toeplitz-mixer" or "toeplitzmixer" => MixerLanguageModelArchitecture.ToeplitzMixer,
        _ => throw new CliException($"--architectures: unknown architecture '{name}'; use masked-mixer, transformer or toeplitz-mixer."),
    };

    private static EmbeddingPooling ParsePooling(string? name) => name switch
    {
        "last-token" => EmbeddingPooling.LastToken,
        "end-of-text" => EmbeddingPooling.EndOfText,
        _ => EmbeddingPooling.Mean,
    };

    private sealed class RetrievalProgress(ConsoleUi ui, string title) : IProgress<RetrievalTrainingProgress>
    {
        public void Report(RetrievalTrainingProgress p)
            => ui.Detail($"{title}: step {p.Step} ({p.Fraction:P0}) · loss {p.Loss.ToString("F3", CultureInfo.InvariantCulture)} · {p.PairsPerSecond.ToString("F1", CultureInfo.InvariantCulture)} pairs/s");
    }

    private sealed class LanguageModelProgress(ConsoleUi ui, string title) : IProgress<LanguageModelTrainingProgress>
    {
        public void Report(LanguageModelTrainingProgress p)
            => ui.Detail($"{title}: step {p.Step}/{p.TotalSteps} · loss {p.Loss.ToString("F3", CultureInfo.InvariantCulture)}");
    }
}

/// <summary>Reads the (query, document) pairs of a CSV file with the CLI's RFC 4180 reader.</summary>
internal static class PairsFile
{
    public static (List<string> Queries, List<string> Documents, int Skipped) Read(string path, string queryColumn, string documentColumn)
    {
        var schema = CsvSniffer.Sniff(path);
        int q = Index(schema, queryColumn, path), d = Index(schema, documentColumn, path);
        var queries = new List<string>();
        var documents = new List<string>();
        int skipped = 0;
        using var text = new StreamReader(path, System.Text.Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        var reader = new CsvRecordReader(text, schema.Separator);
        if (schema.HasHeader)
            reader.Read();
        for (var record = reader.Read(); record is not null; record = reader.Read())
        {
            string query = record[q].Trim(), document = record[d].Trim();
            if (query.Length == 0 || document.Length == 0)
            {
                skipped++;
                continue;
            }
            queries.Add(query);
            documents.Add(document);
        }
        if (queries.Count < 2)
            throw new CliException($"'{path}' has {queries.Count} pair(s) with both '{queryColumn}' and '{documentColumn}' filled; retrieval needs at least 2.");
        return (queries, documents, skipped);
    }

    /// <summary>Documents of one column (for the search index).</summary>
    public static List<string> ReadColumn(string path, string column, out List<string>? ids, string? idColumn)
    {
        var schema = CsvSniffer.Sniff(path);
        int c = Index(schema, column, path);
        int? id = idColumn is null ? null : Index(schema, idColumn, path);
        var values = new List<string>();
        ids = id is null ? null : [];
        using var text = new StreamReader(path, System.Text.Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        var reader = new CsvRecordReader(text, schema.Separator);
        if (schema.HasHeader)
            reader.Read();
        for (var record = reader.Read(); record is not null; record = reader.Read())
        {
            values.Add(record[c]);
            if (id is int i)
                ids!.Add(record[i]);
        }
        return values;
    }

    private static int Index(CsvSchema schema, string column, string path)
        => schema.Find(column)?.Index
           ?? throw new CliException($"'{path}' has no column '{column}'; its columns are: {string.Join(", ", schema.Columns.Select(c => c.Name))}.");

    /// <summary>The input schema saved with the retriever: the two text columns.</summary>
    public static DataViewSchema Schema(MLContext mlContext, string queryColumn, string documentColumn)
    {
        var builder = new DataViewSchema.Builder();
        builder.AddColumn(queryColumn, TextDataViewType.Instance);
        builder.AddColumn(documentColumn, TextDataViewType.Instance);
        return builder.ToSchema();
    }
}
