// Trains a character-level language model on the Debian fortunes (../shared/datasets/text/fortunes.txt beside the
// repository, 2.3 MB; else the 200 KB slice in samples/data, on which 3 minutes overfit) for a few minutes of wall-clock
// time (the learning-rate schedule follows the clock), reports held-out loss, perplexity and bits per byte, and
// prints generations beside the loss of a 4-gram character count model on the same split (the model has to beat counting).
// The default, the Toeplitz mixer, had the lowest held-out loss at equal training time in benchmarks/results/LanguageModelComparison.md.
//   ./dotnet run --project samples/TextGeneration -c Release                   (3 minutes of training)
//   ./dotnet run --project samples/TextGeneration -c Release -- --minutes 0.5  (a quick look)
//   ... -- --corpus other.txt  (documents separated by lines holding %)
// Other options: --architecture MaskedMixer|ToeplitzMixer|StructuredRecurrentMixer|Transformer|LlamaTransformer  --steps N (instead of a time budget)  --threads N
using System.Globalization;
using Microsoft.ML;
using MLNetMixers;

double minutes = double.Parse(StringArgument("--minutes", "3"), CultureInfo.InvariantCulture);
int? steps = args.Contains("--steps") ? IntArgument("--steps", 800) : null;
int? threads = args.Contains("--threads") ? IntArgument("--threads", 1) : null;
var architecture = Enum.Parse<MixerLanguageModelArchitecture>(StringArgument("--architecture", nameof(MixerLanguageModelArchitecture.ToeplitzMixer)), ignoreCase: true);

// One fortune per row; the last 10% are held out for evaluation.
string corpusPath = StringArgument("--corpus", SharedFortunes() ?? Path.Combine(AppContext.BaseDirectory, "data", "fortunes-slice.txt"));
string corpus = File.ReadAllText(corpusPath).Replace("\r\n", "\n");
Console.WriteLine($"Corpus: {corpusPath}");
var fortunes = corpus.Split("\n%\n", StringSplitOptions.RemoveEmptyEntries).Select(f => new Fortune { Text = f.Trim() }).ToList();
int trainCount = fortunes.Count * 9 / 10;

var mlContext = new MLContext(seed: 0);
mlContext.Log += (_, e) =>
{
    if (e.Kind == Microsoft.ML.Runtime.ChannelMessageKind.Info && e.Source.Contains("Training language model", StringComparison.Ordinal))
        Console.WriteLine(e.RawMessage);
};
var train = mlContext.Data.LoadFromEnumerable(fortunes.Take(trainCount));
var heldOut = mlContext.Data.LoadFromEnumerable(fortunes.Skip(trainCount));

var options = new MixerLanguageModelOptions
{
    Architecture = architecture,
    Heads = architecture == MixerLanguageModelArchitecture.ToeplitzMixer ? 1 : 4,
    ContextLength = 128,
    Width = 128,
    Depth = 4,
    BatchSize = 32,
    Steps = steps ?? int.MaxValue,
    MaxTrainingTime = steps is null ? TimeSpan.FromMinutes(minutes) : null,
    WarmupSteps = 50,
    LearningRate = 2e-3,
    LogInterval = 50,
    NumberOfThreads = threads,
    Generation = new TextGenerationOptions { MaxNewTokens = 160, Temperature = 0.7f, TopK = 20, Seed = 1, StopSequences = ["\n\n"] },
};

Console.WriteLine($"Training a {architecture} on {trainCount} fortunes for {(steps is null ? $"{minutes:G} minutes" : $"{steps} steps")}...");
using var model = mlContext.Transforms.Text.TrainMixerLanguageModel(nameof(Fortune.Text), options).Fit(train);

var metrics = model.Evaluate(heldOut, nameof(Fortune.Text));
double fourGram = CharacterNgramBaseline.HeldOutLoss(fortunes.Take(trainCount).Select(f => f.Text), fortunes.Skip(trainCount).Select(f => f.Text), order: 4);
Console.WriteLine($"\nHeld-out: loss {metrics.Loss:F3} nats/char, perplexity {metrics.Perplexity:F2}, {metrics.BitsPerByte:F3} bits per byte over {metrics.Tokens:N0} characters");
Console.WriteLine($"A 4-gram character count model on the same split: {fourGram:F3} nats/char ({(metrics.NatsPerCharacter < fourGram ? "the model is better" : "the model is NOT better: train longer")}).");

foreach (var prompt in new[] { "", "The ", "A programmer ", "Q: Why " })
    Console.WriteLine($"\n[{prompt}] -> {prompt}{model.Generate(prompt)}");
Console.WriteLine($"\n[The ] greedy -> The {model.Generate("The ", new TextGenerationOptions { Temperature = 0, MaxNewTokens = 120 })}");

// The model goes into an ML.NET model zip like any transformer; the same seed gives the same text after loading.
string path = Path.Combine(Path.GetTempPath(), "fortunes-mixer.zip");
mlContext.Model.Save(model, train.Schema, path);
var loaded = (MixerLanguageModelTransformer)new MLContext().Model.Load(path, out _);
Console.WriteLine($"\nSaved to {path}; after loading, same text: {loaded.Generate("The ") == model.Generate("The ")}");

// As a transformer: a prompt column in, a GeneratedText column out.
var prompts = mlContext.Data.LoadFromEnumerable(new[] { new Fortune { Text = "Life is " }, new Fortune { Text = "Never " } });
foreach (var row in mlContext.Data.CreateEnumerable<Generated>(loaded.Transform(prompts), reuseRowObject: false))
    Console.WriteLine($"[{row.Text}] -> {row.Text}{row.GeneratedText}");
loaded.Dispose();

// The whole fortunes file of the shared datasets, found beside the folder that holds MLNetMixers.sln.
static string? SharedFortunes()
{
    for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
    {
        if (File.Exists(Path.Combine(dir.FullName, "MLNetMixers.sln")))
        {
            string path = Path.Combine(dir.FullName, "..", "shared", "datasets", "text", "fortunes.txt");
            return File.Exists(path) ? Path.GetFullPath(path) : null;
        }
    }
    return null;
}

int IntArgument(string name, int fallback)
{
    int i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length && int.TryParse(args[i + 1], out int value) ? value : fallback;
}

string StringArgument(string name, string fallback)
{
    int i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
}

internal sealed class Fortune
{
    public string Text { get; set; } = "";
}

internal sealed class Generated
{
    public string Text { get; set; } = "";

    public string GeneratedText { get; set; } = "";
}
