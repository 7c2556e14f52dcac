using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.ML;
using MLNetMixers.Cli.Terminal;

namespace MLNetMixers.Cli.Commands;

/// <summary>
/// <c>memory-lm</c>: trains a memory language model on a text file (--dataset; documents separated as for <c>generate</c>)
/// and reports its held-out loss with and without its memories, or continues a prompt with a saved one (--model).
/// </summary>
internal static class MemoryLanguageModelCommand
{
    private static readonly string[] RunFiles = [TrainRunner.ModelFileName, TrainRunner.MetricsFileName];

    public static Command Create(Option<bool> verbose)
    {
        var dataset = new Option<string?>("--dataset", "-d") { Description = "Train on this UTF-8 text file." };
        var separator = new Option<string?>("--separator") { Description = "A line that separates documents (e.g. % for fortune files); default: blank lines." };
        var model = new Option<string?>("--model", "-m") { Description = "Generate from this memory-model zip instead of training." };
        var output = new Option<string>("--output", "-o") { Description = "Training: folder for model.zip and metrics.json.", DefaultValueFactory = _ => "mlnet-mixers-memory-lm" };
        var trainTime = new Option<string?>("--train-time") { Description = "Training: wall-clock budget (90, 90s, 5m, 00:01:30). Default 3 minutes unless --steps is given." };
        var steps = new Option<int?>("--steps") { Description = "Training steps; default: as many as --train-time allows." };
        var chunk = new Option<int>("--chunk") { Description = "Characters (tokens) per chunk; one memory each.", DefaultValueFactory = _ => 128 };
        var memoryWidth = new Option<int>("--memory-width") { Description = "Length of each memory vector.", DefaultValueFactory = _ => 64 };
        var memories = new Option<int>("--memories") { Description = "Memories of previous chunks the decoder reads (0: the no-memory control).", DefaultValueFactory = _ => 3 };
        var objective = new Option<string>("--objective") { Description = "causal, copy or combined.", DefaultValueFactory = _ => "combined" };
        var encoder = new Option<string?>("--encoder") { Description = "Start from the encoder of this autoencoder zip (its chunk length and memory width apply)." };
        var freeze = new Option<bool>("--freeze-encoder") { Description = "Keep the encoder fixed; only the decoder learns." };
        var curriculum = new Option<bool>("--curriculum") { Description = "Train the copy objective alone for the first half of the budget, then --objective." };
        var width = new Option<int>("--width") { Description = "Decoder (and encoder) width.", DefaultValueFactory = _ => 128 };
        var depth = new Option<int>("--depth") { Description = "Decoder (and encoder) blocks.", DefaultValueFactory = _ => 2 };
        var architecture = new Option<string?>("--architecture") { Description = "masked (default), toeplitz, transformer, llama or srm." };
        var threads = new Option<int?>("--threads") { Description = $"CPU threads for torch (default {CliApp.DefaultThreads})." };
        var prompt = new Option<string>("--prompt", "-p") { Description = "Text to continue.", DefaultValueFactory = _ => "" };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Characters (tokens) to generate.", DefaultValueFactory = _ => 300 };
        var temperature = new Option<float>("--temperature") { Description = "Sampling temperature (0: greedy).", DefaultValueFactory = _ => 0.8f };
        var seed = new Option<int>("--seed") { Description = "Seed for training and sampling.", DefaultValueFactory = _ => 1 };
        var command = new Command("memory-lm",
            "Train a memory language model (a causal decoder reading one memory vector per previous chunk) on a text file (--dataset), or generate from a saved one (--model).")
        {
            dataset, separator, model, output, trainTime, steps, chunk, memoryWidth, memories, objective, encoder, freeze, curriculum, width, depth,
            architecture, threads, prompt, maxTokens, temperature, seed,
        };
        command.SetAction(parse =>
        {
            var ui = new ConsoleUi(parse.GetValue(verbose));
            CliApp.ApplyThreads(CliApp.Positive(parse.GetValue(threads), "--threads"));
            var generation = new TextGenerationOptions
            {
                MaxNewTokens = CliApp.Positive(parse.GetValue(maxTokens), "--max-tokens")!.Value,
                Temperature = parse.GetValue(temperature) is var t && t >= 0 ? t : throw new CliException("--temperature must not be negative."),
                Seed = parse.GetValue(seed),
            };
            string? dataPath = parse.GetValue(dataset), modelPath = parse.GetValue(model);
            if ((dataPath is null) == (modelPath is null))
                throw new CliException("Give either --dataset (train a memory model) or --model (generate from one).");
            var mlContext = new MLContext(parse.GetValue(seed)) { FallbackToCpu = true };
            if (modelPath is not null)
            {
                using var loaded = Load<MixerMemoryLanguageModelTransformer>(mlContext, modelPath, "a memory language model written by 'mlnet-mixers memory-lm --dataset'");
                string text = parse.GetValue(prompt)!;
                Console.Out.WriteLine(text + loaded.Generate(text, generation));
                return 0;
            }
            var options = new MixerMemoryLanguageModelOptions
            {
                ChunkLength = CliApp.Positive(parse.GetValue(chunk), "--chunk")!.Value,
                MemoryWidth = CliApp.Positive(parse.GetValue(memoryWidth), "--memory-width")!.Value,
                Memories = parse.GetValue(memories) is var m && m >= 0 ? m : throw new CliException("--memories must not be negative."),
                Objective = parse.GetValue(objective)!.Trim().ToLowerInvariant() switch
                {
                    "causal" => MemoryObjective.Causal,
                    "copy" => MemoryObjective.Copy,
                    "combined" => MemoryObjective.Combined,
                    var other => throw new CliException($"--objective '{other}' is not one of causal, copy, combined."),
                },
                FreezeEncoder = parse.GetValue(freeze),
                Curriculum = parse.GetValue(curriculum),
                Width = CliApp.Positive(parse.GetValue(width), "--width")!.Value,
                Depth = CliApp.Positive(parse.GetValue(depth), "--depth")!.Value,
                Architecture = parse.GetValue(architecture) is null ? MixerLanguageModelArchitecture.MaskedMixer : GenerateCommand.ParseArchitecture(parse.GetValue(architecture)),
                Steps = CliApp.Positive(parse.GetValue(steps), "--steps") ?? int.MaxValue,
                NumberOfThreads = CliApp.Positive(parse.GetValue(threads), "--threads") ?? CliApp.DefaultThreads,
                Seed = parse.GetValue(seed),
            };
            options.MaxTrainingTime = CliApp.ParseDuration(parse.GetValue(trainTime)) ?? (parse.GetValue(steps) is null ? TimeSpan.FromMinutes(3) : null);
            if (options.Architecture is MixerLanguageModelArchitecture.Transformer or MixerLanguageModelArchitecture.LlamaTransformer or MixerLanguageModelArchitecture.StructuredRecurrentMixer)
                options.Heads = 4;
            if (options.Memories == 0 && (options.Objective != MemoryObjective.Causal || options.Curriculum))
                throw new CliException("--memories 0 is the no-memory control: it trains only --objective causal, without --curriculum.");
            if (options.Width % options.Heads != 0)
                throw new CliException($"--width {options.Width} does not split into {options.Heads} heads; use a multiple of {options.Heads}.");
            MixerAutoencoderTransformer? source = null;
            if (parse.GetValue(encoder) is { } encoderPath)
            {
                source = Load<MixerAutoencoderTransformer>(mlContext, encoderPath, "an autoencoder zip (a model saved from TrainMixerAutoencoder)");
                if (parse.GetResult(chunk) is null)
                    options.ChunkLength = source.ChunkLength;
                if (parse.GetResult(memoryWidth) is null)
                    options.MemoryWidth = source.MemoryWidth;
                if (options.ChunkLength != source.ChunkLength || options.MemoryWidth != source.MemoryWidth)
                    throw new CliException($"--encoder '{encoderPath}' remembers chunks of {source.ChunkLength} characters in {source.MemoryWidth} numbers; " +
                                           $"--chunk and --memory-width must match it (or be left out).");
                options.Encoder = source;
            }
            else if (options.FreezeEncoder)
            {
                ui.Warning("--freeze-encoder without --encoder keeps a random encoder fixed (the untrained-encoder control).");
            }
            using (source)
            {
                using var cancellation = CliApp.CancelOnCtrlC();
                options.CancellationToken = cancellation.Token;
                return Train(mlContext, dataPath!, parse.GetValue(separator), options, parse.GetValue(output)!, parse.GetValue(prompt)!, generation, ui);
            }
        });
        return command;
    }

    private static int Train(MLContext mlContext, string dataPath, string? separator, MixerMemoryLanguageModelOptions options, string output, string prompt,
                             TextGenerationOptions generation, ConsoleUi ui)
    {
        var documents = GenerateCommand.ReadDocuments(dataPath, separator, ui);
        // Every 20th document (at most 200) is held out, as 'generate' does.
        int heldOutCount = Math.Min(200, documents.Count / 20);
        var heldOut = documents.Where((_, i) => heldOutCount > 0 && i % 20 == 0).Take(heldOutCount).ToList();
        var train = heldOutCount > 0 ? documents.Where((_, i) => !(i % 20 == 0 && i / 20 < heldOutCount)).ToList() : documents;
        ui.Line($"Text {Path.GetFileName(dataPath)}: {documents.Count} documents ({train.Count} for training, {heldOut.Count} held out), {documents.Sum(d => (long)d.Length):N0} characters.");
        using var staged = StagedFolder.Begin(output, RunFiles, [dataPath], ui);
        ui.ForwardTrainerLog(mlContext);
        var data = mlContext.Data.LoadFromEnumerable(train.Select(d => new Document { Text = d }));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var model = ui.Run("Training memory language model", _ => mlContext.Transforms.Text.TrainMixerMemoryLanguageModel(nameof(Document.Text), options).Fit(data));
        double seconds = clock.Elapsed.TotalSeconds;
        mlContext.Model.Save(model, data.Schema, Path.Combine(staged.Path, TrainRunner.ModelFileName));
        var metrics = heldOut.Count > 0 ? model.Evaluate(mlContext.Data.LoadFromEnumerable(heldOut.Select(d => new Document { Text = d }))) : null;
        static JsonNode? Number(double value) => double.IsFinite(value) ? JsonValue.Create(value) : null;
        var json = new JsonObject
        {
            ["tool"] = "mlnet-mixers",
            ["task"] = "memory-language-model",
            ["text"] = Path.GetFullPath(dataPath),
            ["documents"] = documents.Count,
            ["heldOutDocuments"] = heldOut.Count,
            ["chunkLength"] = model.ChunkLength,
            ["memoryWidth"] = model.MemoryWidth,
            ["memories"] = model.Memories,
            ["objective"] = options.Objective.ToString(),
            ["curriculum"] = options.Curriculum,
            ["frozenEncoder"] = options.FreezeEncoder,
            ["architecture"] = model.Architecture.ToString(),
            ["parameters"] = model.ParameterCount,
            ["trainingSeconds"] = Math.Round(seconds, 2),
            ["heldOut"] = metrics is null ? null : new JsonObject
            {
                ["loss"] = metrics.Loss,
                ["lossWithoutMemories"] = metrics.LossWithoutMemories,
                ["copyLoss"] = Number(metrics.CopyLoss),
                ["copyTokenAccuracy"] = Number(metrics.CopyTokenAccuracy),
                ["tokens"] = metrics.Tokens,
            },
        };
        File.WriteAllText(Path.Combine(staged.Path, TrainRunner.MetricsFileName), json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        options.CancellationToken.ThrowIfCancellationRequested();
        var written = staged.Commit();
        if (metrics is not null)
        {
            string copy = model.Memories > 0
                ? string.Create(CultureInfo.InvariantCulture, $"; chunks regenerated from their memories with {metrics.CopyTokenAccuracy:P1} token accuracy.")
                : ".";
            ui.Line(string.Create(CultureInfo.InvariantCulture,
                $"Held-out: {metrics.Loss:F3} nats/char reading the memories, {metrics.LossWithoutMemories:F3} without them{copy}"));
        }
        ui.Line($"Wrote {staged.Destination}: {string.Join(", ", written)} ({model.ParameterCount:N0} parameters).");
        ui.Heading("Sample:");
        ui.Line(prompt + model.Generate(prompt, generation));
        return 0;
    }

    private static T Load<T>(MLContext mlContext, string path, string what) where T : class, ITransformer
    {
        var (loaded, _) = ModelFiles.Load(mlContext, path);
        return GenerateCommand.Flatten(loaded).OfType<T>().FirstOrDefault() ?? throw new CliException($"'{path}' is not {what}.");
    }

    private sealed class Document
    {
        public string Text { get; set; } = "";
    }
}
