using System.CommandLine;

namespace MLNetMixers.Cli.Commands;

/// <summary>
/// <c>generate</c>'s model options: --train-time, --width, --depth, --tokenizer (--architecture is GenerateCommand's), and
/// the defaults: the Llama transformer learned fastest per step in the small runs of LearnsBeyondBigramTests (the equal-time
/// comparison in benchmarks/results/LanguageModelComparison.md could not be completed on a loaded machine).
/// </summary>
internal sealed class LanguageModelCliOptions
{
    internal static readonly TimeSpan DefaultTrainTime = TimeSpan.FromMinutes(3);
    internal const MixerLanguageModelArchitecture DefaultArchitecture = MixerLanguageModelArchitecture.LlamaTransformer;
    internal const string DefaultArchitectureName = "llama";
    internal const int DefaultWidth = 128;
    internal const int DefaultDepth = 4;

    private readonly Option<string?> trainTime = new("--train-time")
    {
        Description = $"Training: wall-clock budget (90, 90s, 5m, 1h, 00:01:30); the learning-rate schedule follows the clock. Default {DefaultTrainTime.TotalMinutes:G} minutes unless --steps is given.",
    };

    private readonly Option<int?> width = new("--width") { Description = $"Training: model width d; default {DefaultWidth}." };

    private readonly Option<int?> depth = new("--depth") { Description = $"Training: number of blocks; default {DefaultDepth}." };

    private readonly Option<string?> tokenizer = new("--tokenizer")
    {
        Description = "Training: characters (default), bytes, or subwords (byte-pair merges learned from the text, 2,048 tokens).",
    };

    public static LanguageModelCliOptions Create() => new();

    public void AddTo(Command command)
    {
        command.Options.Add(trainTime);
        command.Options.Add(width);
        command.Options.Add(depth);
        command.Options.Add(tokenizer);
    }

    public void Apply(ParseResult parse, MixerLanguageModelOptions options, bool stepsGiven)
    {
        var budget = CliApp.ParseDuration(parse.GetValue(trainTime));
        options.MaxTrainingTime = budget ?? (stepsGiven ? null : DefaultTrainTime);
        options.Width = CliApp.Positive(parse.GetValue(width), "--width") ?? DefaultWidth;
        options.Depth = CliApp.Positive(parse.GetValue(depth), "--depth") ?? DefaultDepth;
        options.Tokenization = ParseTokenizer(parse.GetValue(tokenizer));
        if (options.Width % options.Heads != 0 || (options.Architecture == MixerLanguageModelArchitecture.LlamaTransformer && options.Width / options.Heads % 2 != 0))
            throw new CliException($"--width {options.Width} does not split into {options.Heads} {(options.Architecture == MixerLanguageModelArchitecture.LlamaTransformer ? "even-width " : "")}heads for {options.Architecture}; use a multiple of {(options.Architecture == MixerLanguageModelArchitecture.LlamaTransformer ? 8 : options.Heads)}.");
    }

    private static TextTokenization ParseTokenizer(string? value) => value?.Trim().ToLowerInvariant() switch
    {
        null or "" or "characters" or "chars" => TextTokenization.Characters,
        "bytes" => TextTokenization.Bytes,
        "subwords" or "bpe" => TextTokenization.Subwords,
        _ => throw new CliException($"--tokenizer '{value}' is not one of characters, bytes, subwords."),
    };
}
