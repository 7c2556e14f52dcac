using System.CommandLine;

namespace MLNetMixers.Cli.Commands;

/// <summary>
/// <c>generate</c>'s model options: --train-time, --width, --depth, --heads, --tokenizer, --context-warmup (--architecture is GenerateCommand's),
/// and the defaults: the Toeplitz mixer, lowest in held-out loss at equal training time on this CPU and ahead from the first
/// minutes on (benchmarks/results/LanguageModelComparison.md); transformers learn more per token but run 2-3x fewer tokens per second.
/// </summary>
internal sealed class LanguageModelCliOptions
{
    internal static readonly TimeSpan DefaultTrainTime = TimeSpan.FromMinutes(3);
    internal const MixerLanguageModelArchitecture DefaultArchitecture = MixerLanguageModelArchitecture.ToeplitzMixer;
    internal const string DefaultArchitectureName = "toeplitz";
    internal const int DefaultWidth = 128;
    internal const int DefaultDepth = 4;

    private readonly Option<string?> trainTime = new("--train-time")
    {
        Description = $"Training: wall-clock budget (90, 90s, 5m, 1h, 00:01:30); the learning-rate schedule follows the clock. Default {DefaultTrainTime.TotalMinutes:G} minutes unless --steps is given.",
    };

    private readonly Option<int?> width = new("--width") { Description = $"Training: model width d; default {DefaultWidth}." };

    private readonly Option<int?> depth = new("--depth") { Description = $"Training: number of blocks; default {DefaultDepth}." };

    private readonly Option<int?> heads = new("--heads")
    {
        // The SRM needs two heads or more to have both its column- and row-repeat kinds; Toeplitz mixing has one kernel per layer.
        Description = "Training: token-mixing heads; default 4 (Toeplitz: 1). 1 gives the flat masked mixer.",
    };

    private readonly Option<string?> tokenizer = new("--tokenizer")
    {
        Description = "Training: characters (default), bytes, or subwords (byte-pair merges learned from the text, 2,048 tokens).",
    };

    private readonly Option<double?> contextWarmup = new("--context-warmup")
    {
        Description = $"Training: share of the training over which windows grow from 64 tokens to the full context (0 to 1); default {GptContextWarmup:G} for transformer (whose attention otherwise finds its neighbours late) and srm, 0 for the others.",
    };

    /// <summary>The sequence-length warm-up of the GPT baseline and the SRM, both better with it (benchmarks/results/LanguageModelComparison.md).</summary>
    internal const double GptContextWarmup = 0.25;

    public static LanguageModelCliOptions Create() => new();

    public void AddTo(Command command)
    {
        command.Options.Add(trainTime);
        command.Options.Add(width);
        command.Options.Add(depth);
        command.Options.Add(heads);
        command.Options.Add(tokenizer);
        command.Options.Add(contextWarmup);
    }

    public void Apply(ParseResult parse, MixerLanguageModelOptions options, bool stepsGiven)
    {
        var budget = CliApp.ParseDuration(parse.GetValue(trainTime));
        options.MaxTrainingTime = budget ?? (stepsGiven ? null : DefaultTrainTime);
        options.Width = CliApp.Positive(parse.GetValue(width), "--width") ?? DefaultWidth;
        options.Depth = CliApp.Positive(parse.GetValue(depth), "--depth") ?? DefaultDepth;
        options.Heads = CliApp.Positive(parse.GetValue(heads), "--heads") ?? (options.Architecture == MixerLanguageModelArchitecture.ToeplitzMixer ? 1 : 4);
        if (options.Architecture == MixerLanguageModelArchitecture.StructuredRecurrentMixer && options.Heads < 2)
            throw new CliException("--heads must be 2 or more for srm (its heads alternate between two kinds of recurrence).");
        options.Tokenization = ParseTokenizer(parse.GetValue(tokenizer));
        options.ContextWarmupFraction = parse.GetValue(contextWarmup) is { } warmup
            ? warmup is >= 0 and <= 1 ? warmup : throw new CliException($"--context-warmup {warmup} is not between 0 and 1.")
            : options.Architecture is MixerLanguageModelArchitecture.Transformer or MixerLanguageModelArchitecture.StructuredRecurrentMixer ? GptContextWarmup : 0;
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
