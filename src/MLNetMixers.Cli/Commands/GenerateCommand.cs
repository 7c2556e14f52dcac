using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.ML;
using MLNetMixers.Cli.Data;
using MLNetMixers.Cli.Terminal;

namespace MLNetMixers.Cli.Commands;

/// <summary>
/// <c>generate</c>: trains a character-level mixer language model on a text file (documents separated by a line such
/// as <c>%</c>, or by blank lines), or continues a prompt with a saved one.
/// </summary>
internal static class GenerateCommand
{
    private const double HeldOutFraction = 0.05;
    private const int MaxHeldOutDocuments = 200;

    public static Command Create(Option<bool> verbose)
    {
        var text = new Option<string?>("--text", "-t") { Description = "Train on this UTF-8 text file." };
        var separator = new Option<string?>("--separator") { Description = "A line that separates documents (e.g. % for fortune files); default: blank lines." };
        var model = new Option<string?>("--model", "-m") { Description = "Generate from this language-model zip instead of training." };
        var output = new Option<string>("--output", "-o") { Description = "Training: folder for model.zip and metrics.json.", DefaultValueFactory = _ => "mlnet-mixers-lm" };
        var steps = new Option<int?>("--steps") { Description = "Training steps (batches); default: as many as --train-time allows." };
        var context = new Option<int?>("--context") { Description = "Training: context length in tokens; default 128." };
        var lm = LanguageModelCliOptions.Create();
        var device = CliApp.DeviceOption("Where the model trains and runs.");
        var threads = new Option<int?>("--threads") { Description = $"CPU threads for torch (default {CliApp.DefaultThreads})." };
        var precision = CliApp.PrecisionOption();
        var prompt = new Option<string>("--prompt", "-p") { Description = "Text to continue.", DefaultValueFactory = _ => "" };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Characters (tokens) to generate.", DefaultValueFactory = _ => 200 };
        var temperature = new Option<float>("--temperature") { Description = "Sampling temperature (0: greedy).", DefaultValueFactory = _ => 0.8f };
        var topK = new Option<int>("--top-k") { Description = "Sample from the k likeliest tokens (0: all).", DefaultValueFactory = _ => 0 };
        var seed = new Option<int>("--seed") { Description = "Seed for training and sampling.", DefaultValueFactory = _ => 1 };
        var architecture = new Option<string?>("--architecture")
        {
            Description = $"Training: masked, toeplitz, transformer (GPT-2 style), llama (Llama style) or srm (structured recurrent mixer); default {LanguageModelCliOptions.DefaultArchitectureName}.",
        };
        var batch = new Option<string?>("--batch") { Description = "With --model: continue every line of this UTF-8 file (one prompt per line), decoded together; prints one line per prompt, in order, with line breaks inside a text written as \\n and backslashes as \\\\." };

        var command = new Command("generate", "Train a mixer language model on a text file (--text), or generate text from a saved one (--model).")
        {
            text, separator, model, output, steps, context, device, precision, threads, prompt, maxTokens, temperature, topK, seed, architecture, batch,
        };
        lm.AddTo(command);
        command.SetAction(parse =>
        {
            var ui = new ConsoleUi(parse.GetValue(verbose));
            // Training and generation both run on --threads (the trainer's NumberOfThreads holds only while it trains).
            CliApp.ApplyThreads(CliApp.Positive(parse.GetValue(threads), "--threads"));
            var generation = new TextGenerationOptions
            {
                MaxNewTokens = CliApp.Positive(parse.GetValue(maxTokens), "--max-tokens")!.Value,
                Temperature = parse.GetValue(temperature) is var t && t >= 0 ? t : throw new CliException("--temperature must not be negative."),
                TopK = parse.GetValue(topK) is var k && k >= 0 ? k : throw new CliException("--top-k must not be negative."),
                Seed = parse.GetValue(seed),
            };
            string? textPath = parse.GetValue(text), modelPath = parse.GetValue(model);
            if ((textPath is null) == (modelPath is null))
                throw new CliException("Give either --text (train a model) or --model (generate from one).");
            string? batchPath = parse.GetValue(batch);
            if (batchPath is not null && modelPath is null)
                throw new CliException("--batch continues prompts with a saved model: give --model too.");
            if (batchPath is not null && parse.GetValue(prompt) is { Length: > 0 })
                throw new CliException("Give either --prompt or --batch, not both.");
            if (modelPath is not null)
                return batchPath is null ? Generate(modelPath, parse.GetValue(prompt)!, generation, ui) : GenerateBatch(modelPath, batchPath, generation);
            var kind = ParseArchitecture(parse.GetValue(architecture));

            var options = new MixerLanguageModelOptions
            {
                Steps = CliApp.Positive(parse.GetValue(steps), "--steps") ?? int.MaxValue,
                ContextLength = CliApp.Positive(parse.GetValue(context), "--context") ?? 128,
                // The comparison's recipe (benchmarks/results/LanguageModelComparison.md): 4,096 tokens per step, AdamW 2e-3.
                LearningRate = 2e-3,
                WarmupSteps = 50,
                Device = CliApp.ParseDevice(parse.GetValue(device)),
                NumberOfThreads = CliApp.Positive(parse.GetValue(threads), "--threads") ?? CliApp.DefaultThreads,
                Precision = CliApp.ParsePrecision(parse.GetValue(precision)),
                Seed = parse.GetValue(seed),
                Generation = generation,
                Architecture = kind,
            };
            lm.Apply(parse, options, stepsGiven: parse.GetValue(steps) is not null);
            options.BatchSize = Math.Max(1, 4096 / options.ContextLength);
            using var cancellation = CliApp.CancelOnCtrlC();
            options.CancellationToken = cancellation.Token;
            return Train(textPath!, parse.GetValue(separator), options, parse.GetValue(output)!, parse.GetValue(prompt)!, ui);
        });
        return command;
    }

    /// <summary>The files a language-model training run writes.</summary>
    private static readonly string[] RunFiles = [TrainRunner.ModelFileName, TrainRunner.MetricsFileName];

    private static int Train(string textPath, string? separator, MixerLanguageModelOptions options, string output, string prompt, ConsoleUi ui)
    {
        var documents = ReadDocuments(textPath, separator, ui);
        int distinct = documents.SelectMany(d => d).Distinct().Count();
        if (distinct < 2)
            ui.Warning($"'{textPath}' uses only {distinct} distinct character; a language model has nothing to learn from it beyond repeating it.");
        else if (documents.Sum(d => (long)d.Length) < 1000)
            ui.Warning($"'{textPath}' holds only {documents.Sum(d => (long)d.Length)} characters; the model will mostly memorise it.");
        int heldOutCount = Math.Min(MaxHeldOutDocuments, (int)(documents.Count * HeldOutFraction));
        // Every 20th document is held out, so both parts come from the whole file.
        var heldOut = documents.Where((_, i) => heldOutCount > 0 && i % 20 == 0).Take(heldOutCount).ToList();
        var train = heldOutCount > 0 ? documents.Where((_, i) => !(i % 20 == 0 && i / 20 < heldOutCount)).ToList() : documents;
        ui.Line($"Text {Path.GetFileName(textPath)}: {documents.Count} documents ({train.Count} for training, {heldOut.Count} held out), {documents.Sum(d => (long)d.Length):N0} characters.");

        using var staged = StagedFolder.Begin(output, RunFiles, [textPath], ui);
        var mlContext = new MLContext(options.Seed) { FallbackToCpu = true };
        ui.ForwardTrainerLog(mlContext);
        var data = mlContext.Data.LoadFromEnumerable(train.Select(d => new Document { Text = d }));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var model = ui.Run("Training language model", report =>
        {
            options.Progress = new LanguageModelProgress(report, options.MaxTrainingTime);
            return mlContext.Transforms.Text.TrainMixerLanguageModel(nameof(Document.Text), options).Fit(data);
        });
        double trainingSeconds = clock.Elapsed.TotalSeconds;

        string modelPath = Path.Combine(staged.Path, TrainRunner.ModelFileName);
        mlContext.Model.Save(model, data.Schema, modelPath);
        var metrics = heldOut.Count > 0
            ? model.Evaluate(mlContext.Data.LoadFromEnumerable(heldOut.Select(d => new Document { Text = d })), nameof(Document.Text))
            : null;
        // Counting is the bar to clear: the 4-gram character model of the same training text, on the same held-out documents.
        double? fourGram = heldOut.Count > 0 ? CharacterNgramBaseline.HeldOutLoss(train, heldOut, order: 4) : null;
        double? natsPerCharacter = metrics?.NatsPerCharacter;
        var json = new JsonObject
        {
            ["tool"] = "mlnet-mixers",
            ["task"] = "language-model",
            ["text"] = Path.GetFullPath(textPath),
            ["documents"] = documents.Count,
            ["heldOutDocuments"] = heldOut.Count,
            ["steps"] = options.Steps == int.MaxValue ? null : options.Steps,
            ["trainTimeSeconds"] = options.MaxTrainingTime?.TotalSeconds,
            ["architecture"] = options.Architecture.ToString(),
            ["tokenization"] = options.Tokenization.ToString(),
            ["width"] = options.Width,
            ["depth"] = options.Depth,
            ["heads"] = options.Heads,
            ["contextWarmup"] = options.ContextWarmupFraction,
            ["precision"] = CliApp.PrecisionName(options.Precision),
            ["contextLength"] = model.ContextLength,
            ["parameters"] = model.ParameterCount,
            ["trainingSeconds"] = Math.Round(trainingSeconds, 2),
            ["heldOut"] = metrics is null ? null : new JsonObject
            {
                ["loss"] = metrics.Loss,
                ["perplexity"] = metrics.Perplexity,
                ["bitsPerByte"] = metrics.BitsPerByte,
                ["tokens"] = metrics.Tokens,
                ["natsPerCharacter"] = natsPerCharacter,
                ["fourGramNatsPerCharacter"] = fourGram,
            },
        };
        File.WriteAllText(Path.Combine(staged.Path, TrainRunner.MetricsFileName), json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        options.CancellationToken.ThrowIfCancellationRequested();
        var written = staged.Commit();
        if (metrics is not null)
        {
            ui.Line($"Held-out: loss {metrics.Loss:F3}, perplexity {metrics.Perplexity:F2}, {metrics.BitsPerByte:F3} bits per byte.");
            ui.Line($"Held-out: {natsPerCharacter:F3} nats per character against {fourGram:F3} for a 4-gram character count model of the same text"
                    + (natsPerCharacter < fourGram ? "." : " (the model has not yet beaten counting: train longer with --train-time)."));
        }
        ui.Line($"Wrote {staged.Destination}: {string.Join(", ", written)} ({model.ParameterCount:N0} parameters).");
        ui.Heading("Sample:");
        ui.Line(prompt + model.Generate(prompt));
        return 0;
    }

    private static int Generate(string modelPath, string prompt, TextGenerationOptions generation, ConsoleUi ui)
    {
        var languageModel = LoadLanguageModel(modelPath, generation);
        Console.Out.WriteLine(prompt + languageModel.Generate(prompt, generation));
        return 0;
    }

    /// <summary>Every line of <paramref name="batchPath"/> continued at once; one output line per prompt line.</summary>
    private static int GenerateBatch(string modelPath, string batchPath, TextGenerationOptions generation)
    {
        if (!File.Exists(batchPath))
            throw new CliException($"File not found: '{batchPath}'.");
        var prompts = File.ReadAllLines(batchPath);
        if (prompts.Length == 0)
            throw new CliException($"'{batchPath}' holds no prompts (one prompt per line).");
        var languageModel = LoadLanguageModel(modelPath, generation);
        var texts = languageModel.Generate(prompts, generation);
        for (int i = 0; i < prompts.Length; i++)
            Console.Out.WriteLine((prompts[i] + texts[i]).Replace("\\", "\\\\").Replace("\n", "\\n").Replace("\r", "\\r"));
        return 0;
    }

    private static MixerLanguageModelTransformer LoadLanguageModel(string modelPath, TextGenerationOptions generation)
    {
        var mlContext = new MLContext(generation.Seed) { FallbackToCpu = true };
        var (model, _) = ModelFiles.Load(mlContext, modelPath);
        return Flatten(model).OfType<MixerLanguageModelTransformer>().FirstOrDefault()
            ?? throw new CliException($"'{modelPath}' is not a language model written by 'mlnet-mixers generate --text'.");
    }

    internal static MixerLanguageModelArchitecture ParseArchitecture(string? value) => value?.Trim().ToLowerInvariant() switch
    {
        null or "" => LanguageModelCliOptions.DefaultArchitecture,
        "masked" => MixerLanguageModelArchitecture.MaskedMixer,
        "toeplitz" => MixerLanguageModelArchitecture.ToeplitzMixer,
        "transformer" => MixerLanguageModelArchitecture.Transformer,
        "llama" => MixerLanguageModelArchitecture.LlamaTransformer,
        "srm" => MixerLanguageModelArchitecture.StructuredRecurrentMixer,
        _ => throw new CliException($"--architecture '{value}' is not one of masked, toeplitz, transformer, llama, srm."),
    };

    internal static IEnumerable<ITransformer> Flatten(ITransformer transformer)
        => transformer is IEnumerable<ITransformer> chain ? chain.SelectMany(Flatten) : [transformer];

    /// <summary>Documents of a text file: split at lines equal to <paramref name="separator"/>, or at blank lines.</summary>
    internal static List<string> ReadDocuments(string path, string? separator, ConsoleUi? ui = null)
    {
        if (Directory.Exists(path))
            throw new CliException($"--text '{path}' is a folder, not a text file.");
        if (!File.Exists(path))
            throw new CliException($"File not found: '{path}'.");
        var decoded = TextFile.Read(path, "text file");
        if (decoded.Warning is { } warning)
            ui?.Warning(warning);
        var documents = new List<string>();
        var current = new List<string>();
        using var reader = new StringReader(decoded.Text);
        for (string? line = reader.ReadLine(); line is not null; line = reader.ReadLine())
        {
            bool boundary = separator is null ? line.Trim().Length == 0 : line.TrimEnd() == separator;
            if (boundary)
            {
                Flush();
                continue;
            }
            current.Add(line);
        }
        Flush();
        return documents.Count > 0 ? documents : throw new CliException($"'{path}' holds no text.");

        void Flush()
        {
            string document = string.Join('\n', current).Trim('\n');
            if (document.Trim().Length > 0)
                documents.Add(document);
            current.Clear();
        }
    }

    private sealed class Document
    {
        public string Text { get; set; } = "";
    }

    private sealed class LanguageModelProgress(ProgressReport report, TimeSpan? budget) : IProgress<LanguageModelTrainingProgress>
    {
        private readonly System.Diagnostics.Stopwatch clock = System.Diagnostics.Stopwatch.StartNew();

        // Under --train-time the bar follows the clock, as the schedule does.
        public void Report(LanguageModelTrainingProgress p)
            => report(budget is { } b ? Math.Min(1, clock.Elapsed / b) : p.TotalSteps > 0 ? (double)p.Step / p.TotalSteps : 0,
                (budget is null ? $"step {p.Step}/{p.TotalSteps}" : $"step {p.Step}") + $" · loss {p.Loss.ToString("F3", CultureInfo.InvariantCulture)} · {p.TokensPerSecond.ToString("N0", CultureInfo.InvariantCulture)} chars/s · ETA {p.EstimatedRemaining:m\\:ss}",
                p.Step == p.TotalSteps);
    }
}
