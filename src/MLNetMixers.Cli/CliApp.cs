using System.CommandLine;
using System.Globalization;
using MLNetMixers.Cli.Commands;
using MLNetMixers.Cli.Terminal;
using MLNetMixers.Cli.Training;
using Spectre.Console;

namespace MLNetMixers.Cli;

/// <summary>
/// <c>mlnet-mixers</c>: Model Builder-style training of mixer models from a CSV file, with a LightGBM baseline,
/// metrics, a model zip, consumption code and an attribution report.
/// </summary>
internal static class CliApp
{
    public const int UserError = 1;
    public const int Cancelled = 130;

    private static readonly Option<bool> Verbose = new("--verbose", "-v")
    {
        Description = "Show details and, on failure, the full exception.",
        Recursive = true,
    };

    /// <summary>Torch threads unless --threads says otherwise.</summary>
    public static int DefaultThreads => Math.Clamp(Environment.ProcessorCount / 2, 1, 4);

    public static int Run(string[] args)
    {
        var root = new RootCommand("Train small mixer models (ML.NET + TorchSharp) on CSV files, Model Builder-style.")
        {
            Verbose,
            TrainCommand(regression: false),
            TrainCommand(regression: true),
            PredictCommand.Create(Verbose),
        };
        foreach (var command in ExtraCommands.Create(Verbose))
            root.Subcommands.Add(command);

        var parse = root.Parse(args);
        bool verbose = parse.GetValue(Verbose);
        try
        {
            return parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Exception e)
        {
            return ReportFailure(e, verbose);
        }
    }

    private static int ReportFailure(Exception e, bool verbose)
    {
        var root = Unwrap(e);
        if (root is OperationCanceledException)
        {
            Console.Error.WriteLine("Cancelled.");
            ExitNow(Cancelled);
        }
        // Whatever the exception, the user gets a sentence; its type and stack trace only with --verbose.
        string message = root is CliException ? root.Message : Describe(root);
        Console.Error.WriteLine("error: " + message);
        if (verbose)
            Console.Error.WriteLine(e.ToString());
        return UserError;
    }

    private static string Describe(Exception e) => e switch
    {
        FileNotFoundException f => $"File not found: '{f.FileName}'.",
        DirectoryNotFoundException => $"A folder does not exist: {Phase.FirstLine(e.Message)}",
        UnauthorizedAccessException => $"Permission denied: {Phase.FirstLine(e.Message)}",
        OutOfMemoryException => "Out of memory: the data or the model is too large for this machine; try fewer rows or columns.",
        _ => $"mlnet-mixers failed: {Phase.FirstLine(e.Message).TrimEnd('.')}. Run with --verbose for the details, and please report it.",
    };

    /// <summary>The exception that says what went wrong: a CliException anywhere in the chain, else the innermost.</summary>
    private static Exception Unwrap(Exception e)
    {
        for (Exception? current = e; current is not null; current = current.InnerException)
        {
            if (current is CliException or OperationCanceledException)
                return current;
        }
        var innermost = e;
        while (innermost is System.Reflection.TargetInvocationException or AggregateException or TypeInitializationException && innermost.InnerException is not null)
            innermost = innermost.InnerException;
        return innermost;
    }

    private static Command TrainCommand(bool regression)
    {
        var dataset = new Option<string>("--dataset", "-d") { Description = "The training CSV file (header, separator, quoting and column types are inferred).", Required = true };
        var label = new Option<string>("--label-col", "-l") { Description = "The column to predict.", Required = true };
        var ignore = new Option<string[]>("--ignore-cols")
        {
            Description = "Columns to leave out (ids, leaks); space- or comma-separated.",
            AllowMultipleArgumentsPerToken = true,
        };
        var validation = new Option<string?>("--validation-dataset") { Description = "A CSV with the same columns to test on, instead of a split." };
        var split = new Option<double>("--split") { Description = "Fraction of rows held out for testing when no validation dataset is given.", DefaultValueFactory = _ => 0.2 };
        var epochs = new Option<int?>("--epochs") { Description = "Passes over the training rows (default: as many as --train-time allows, at most the task's trainer default: binary 6, multiclass 20, regression 40)." };
        var trainTime = new Option<string?>("--train-time") { Description = "Time budget: seconds (90), or 90s, 5m, 1h, 00:01:30 (default 2m). The experiment spends it on mixer and LightGBM trials; with --no-search, the one mixer's epochs are planned to fit it." };
        var device = DeviceOption("Where the mixer trains.");
        var output = new Option<string>("--output", "-o") { Description = "Folder for model.zip, metrics.json, ConsumeModel.cs and the report.", DefaultValueFactory = _ => "mlnet-mixers-output" };
        var seed = new Option<int>("--seed") { Description = "Seed for the split, the mixer and LightGBM.", DefaultValueFactory = _ => 1 };
        var threads = new Option<int?>("--threads") { Description = $"CPU threads for torch (default {DefaultThreads}: half the cores, at most 4; small models gain little from more, and lose a lot on a busy machine)." };
        var precision = PrecisionOption();
        var noBaseline = new Option<bool>("--no-baseline") { Description = "Skip the LightGBM baseline." };
        var noSearch = new Option<bool>("--no-search") { Description = "Train one mixer with the task's defaults instead of the experiment (--epochs implies it)." };
        var noReport = new Option<bool>("--no-report") { Description = "Skip the attribution report." };
        var reportRows = new Option<int>("--report-rows") { Description = "Held-out rows the attribution report explains.", DefaultValueFactory = _ => ExplainStep.DefaultRows };
        var culture = CultureOption();
        var positive = new Option<string?>("--positive-class") { Description = "For a two-class label: the class the model scores (default: yes/true/1/positive, else the rarer class)." };

        var command = new Command(regression ? "regression" : "classification",
            regression
                ? "Train a mixer regression model on a CSV file, with a LightGBM baseline."
                : "Train a mixer classifier (binary or multiclass, from the label's values) on a CSV file, with a LightGBM baseline.")
        {
            dataset, label, ignore, validation, split, epochs, trainTime, device, precision, output, seed, threads, noBaseline, noSearch, noReport, reportRows, culture,
        };
        if (!regression)
            command.Options.Add(positive);

        command.SetAction(parse =>
        {
            var ui = new ConsoleUi(parse.GetValue(Verbose));
            var settings = new TrainSettings
            {
                Regression = regression,
                Dataset = parse.GetValue(dataset)!,
                LabelColumn = parse.GetValue(label)!,
                IgnoreColumns = SplitList(parse.GetValue(ignore)),
                ValidationDataset = parse.GetValue(validation),
                Split = parse.GetValue(split),
                Epochs = Positive(parse.GetValue(epochs), "--epochs"),
                TrainTime = ParseDuration(parse.GetValue(trainTime)),
                Device = ParseDevice(parse.GetValue(device)),
                Precision = ParsePrecision(parse.GetValue(precision)),
                Output = parse.GetValue(output)!,
                Seed = parse.GetValue(seed),
                Threads = Positive(parse.GetValue(threads), "--threads") ?? DefaultThreads,
                PositiveClass = regression ? null : parse.GetValue(positive),
                Baseline = !parse.GetValue(noBaseline),
                Search = !parse.GetValue(noSearch),
                Explain = !parse.GetValue(noReport),
                ReportRows = Positive(parse.GetValue(reportRows), "--report-rows")!.Value,
                Verbose = ui.Verbose,
                Numbers = ParseCulture(parse.GetValue(culture)),
            };
            // Scoring, the attribution report and training all run on --threads.
            ApplyThreads(settings.Threads);
            using var cancellation = CancelOnCtrlC();
            return TrainRunner.Run(settings, ui, cancellation.Token);
        });
        return command;
    }

    /// <summary>--culture: how the CSV writes numbers (decimal comma or point); inferred from the file when absent.</summary>
    internal static Option<string?> CultureOption() => new("--culture")
    {
        Description = "How the CSV writes numbers, as a culture name: en-US or invariant (1,234.5), de-DE or fr-FR (1.234,5). " +
                      "Default: inferred from the file (a decimal comma when values such as 3,5 are more common than 3.5).",
    };

    internal static Data.NumberReader? ParseCulture(string? name)
        => string.IsNullOrWhiteSpace(name) ? null : Data.NumberReader.ForCulture(name.Trim());

    /// <summary>--device: the trainers' <see cref="MixerDevice"/>.</summary>
    internal static Option<string> DeviceOption(string description)
    {
        var device = new Option<string>("--device") { Description = description, DefaultValueFactory = _ => "auto" };
        device.AcceptOnlyFromAmong("auto", "cpu", "cuda");
        return device;
    }

    internal static MixerDevice ParseDevice(string? value) =>
        value switch { "cpu" => MixerDevice.Cpu, "cuda" => MixerDevice.Cuda, _ => MixerDevice.Auto };

    /// <summary>--precision: the trainers' <see cref="MixerPrecision"/>.</summary>
    internal static Option<string> PrecisionOption()
    {
        var precision = new Option<string>("--precision")
        {
            Description = "float32, or bfloat16: bfloat16 products with float32 master weights, faster where the CPU's bfloat16 products outrun " +
                          "float32 ones (the trainer measures this first and warns where they do not).",
            DefaultValueFactory = _ => PrecisionName(MixerPrecision.Float32),
        };
        precision.AcceptOnlyFromAmong(PrecisionName(MixerPrecision.Float32), PrecisionName(MixerPrecision.BFloat16));
        return precision;
    }

    /// <summary>A precision as --precision and metrics.json spell it.</summary>
    internal static string PrecisionName(MixerPrecision precision) => precision == MixerPrecision.BFloat16 ? "bfloat16" : "float32";

    internal static MixerPrecision ParsePrecision(string? value) =>
        value == PrecisionName(MixerPrecision.BFloat16) ? MixerPrecision.BFloat16 : MixerPrecision.Float32;

    /// <summary>Torch's CPU threads for the command (the trainers' NumberOfThreads holds only while they train).</summary>
    internal static void ApplyThreads(int? threads) => TorchSharp.torch.set_num_threads(threads ?? DefaultThreads);

    /// <summary>
    /// Ctrl+C (SIGINT) cancels the running phase and discards the run's staged outputs; a second Ctrl+C exits at once
    /// (exit code 130) whatever the process is doing.
    /// </summary>
    internal static CancellationTokenSource CancelOnCtrlC()
    {
        var source = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            if (source.IsCancellationRequested)
            {
                Console.Error.WriteLine("Stopped.");
                ExitNow(Cancelled);
            }
            Console.Error.WriteLine("Cancelling (press Ctrl+C again to stop at once)...");
            source.Cancel();
        };
        return source;
    }

    /// <summary>
    /// Ends the process without the runtime's shutdown: a cancelled phase may still run on its abandoned thread inside
    /// torch or LightGBM, whose native state must not be torn down under it (that crashed with SIGSEGV instead of
    /// exiting with 130). Staged outputs are already removed when this runs.
    /// </summary>
    internal static void ExitNow(int code)
    {
        foreach (var discard in DiscardOnExit.ToArray())
            discard();
        Console.Out.Flush();
        Console.Error.Flush();
        if (OperatingSystem.IsWindows())
            Environment.Exit(code);
        QuickExit(code);
    }

    /// <summary>What an immediate exit must still undo: the staged outputs of the running command.</summary>
    internal static readonly List<Action> DiscardOnExit = [];

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "_exit")]
    private static extern void QuickExit(int code);

    internal static IReadOnlyList<string> SplitList(string[]? values)
        => values is null ? [] : [.. values.SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))];

    internal static int? Positive(int? value, string option)
        => value is <= 0 ? throw new CliException($"{option} must be at least 1; got {value}.") : value;

    internal static TimeSpan? ParseDuration(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
            return null;
        text = text.Trim();
        double factor = 1;
        string number = text;
        if (text.EndsWith('s')) { number = text[..^1]; }
        else if (text.EndsWith('m')) { number = text[..^1]; factor = 60; }
        else if (text.EndsWith('h')) { number = text[..^1]; factor = 3600; }
        if (double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) && value > 0 && double.IsFinite(value))
            return TimeSpan.FromSeconds(value * factor);
        if (TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out var span) && span > TimeSpan.Zero)
            return span;
        throw new CliException($"--train-time '{text}' is not a duration: use seconds (90), 90s, 5m, 1h or 00:01:30.");
    }
}
