using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.ML;
using MLNetMixers.Cli.Terminal;
using Spectre.Console;

namespace MLNetMixers.Cli.Commands;

/// <summary>
/// <c>compress</c> / <c>decompress</c>: lossless compression of any file with a language-model zip; <c>surprisal</c>:
/// a text with its costly pieces highlighted, in the terminal and optionally as an HTML report.
/// </summary>
internal static class CompressionCommands
{
    public static IEnumerable<Command> Create(Option<bool> verbose)
    {
        yield return Coding(verbose, compress: true);
        yield return Coding(verbose, compress: false);
        yield return Surprisal(verbose);
    }

    private static Option<string> ModelOption() => new("--model", "-m") { Description = "A language-model zip written by 'mlnet-mixers generate --text'.", Required = true };

    private static Command Coding(Option<bool> verbose, bool compress)
    {
        var model = ModelOption();
        var input = new Option<string>("--input", "-i") { Description = compress ? "The file to compress (any bytes)." : "A file written by 'compress'.", Required = true };
        var output = new Option<string>("--output", "-o") { Description = compress ? "The compressed file (e.g. file.mmz)." : "The restored file.", Required = true };
        var lanes = new Option<int>("--lanes") { Description = "Runs coded side by side (faster; each starts without context). 0: about one per 4 KiB, at most 64.", DefaultValueFactory = _ => 0 };
        var threads = new Option<int?>("--threads") { Description = "CPU threads for torch while compressing (decompression uses the count stored in the file). Default 1." };
        var command = compress
            ? new Command("compress", "Compress any file losslessly with a language model driving a range coder; only the same model (and CPU kind and build) can decompress it.")
            {
                model, input, output, lanes, threads,
            }
            : new Command("decompress", "Restore a file written by 'compress', with the model that compressed it.") { model, input, output };
        command.SetAction(parse =>
        {
            var ui = new ConsoleUi(parse.GetValue(verbose));
            string inputPath = parse.GetValue(input)!, outputPath = parse.GetValue(output)!;
            if (!File.Exists(inputPath))
                throw new CliException($"File not found: '{inputPath}'.");
            // The output must not be an input under any name (symlink, relative path, the model zip itself).
            StagedFile.Check(outputPath, [("--input", inputPath), ("--model", parse.GetValue(model)!)]);
            using var languageModel = LoadLanguageModel(parse.GetValue(model)!);
            int laneCount = parse.GetValue(lanes) is var l && l >= 0 ? l : throw new CliException("--lanes must not be negative.");
            var options = new LanguageModelCompressionOptions { Lanes = laneCount, NumberOfThreads = CliApp.Positive(parse.GetValue(threads), "--threads") ?? 1 };
            return compress ? Compress(languageModel, inputPath, outputPath, options, ui) : Decompress(languageModel, inputPath, outputPath, ui);
        });
        return command;
    }

    private static int Compress(MixerLanguageModelTransformer model, string inputPath, string outputPath, LanguageModelCompressionOptions options, ConsoleUi ui)
    {
        var clock = Stopwatch.StartNew();
        var statistics = WriteAtomically(outputPath, output =>
        {
            using var input = File.OpenRead(inputPath);
            return model.Compress(input, output, options);
        });
        double seconds = clock.Elapsed.TotalSeconds;
        string codes = statistics.MemoryCodeBits > 0 ? string.Create(CultureInfo.InvariantCulture, $", of which {statistics.MemoryCodeBits:N0} bits of memory codes") : "";
        ui.Line(string.Create(CultureInfo.InvariantCulture,
            $"{inputPath}: {statistics.OriginalBytes:N0} -> {statistics.CompressedBytes:N0} bytes ({(statistics.OriginalBytes == 0 ? "empty input" : statistics.BitsPerByte.ToString("F3", CultureInfo.InvariantCulture) + " bits per byte")}{codes}), " +
            $"{statistics.Symbols:N0} symbols ({statistics.EscapedBytes:N0} bytes escaped), {statistics.Lanes} lanes, {statistics.Threads} threads, {statistics.OriginalBytes / 1024.0 / Math.Max(seconds, 1e-9):N1} KB/s."));
        return 0;
    }

    private static int Decompress(MixerLanguageModelTransformer model, string inputPath, string outputPath, ConsoleUi ui)
    {
        var clock = Stopwatch.StartNew();
        long written;
        try
        {
            written = WriteAtomically(outputPath, output =>
            {
                using var input = File.OpenRead(inputPath);
                return model.Decompress(input, output);
            });
        }
        catch (InvalidDataException e)
        {
            throw new CliException($"Cannot decompress '{inputPath}': {e.Message}", e);
        }
        ui.Line(string.Create(CultureInfo.InvariantCulture, $"{inputPath}: restored {written:N0} bytes to {outputPath} ({written / 1024.0 / Math.Max(clock.Elapsed.TotalSeconds, 1e-9):N1} KB/s)."));
        return 0;
    }

    /// <summary>Writes through a temporary file renamed at the end, so a failure never leaves a partial or destroyed output.</summary>
    private static T WriteAtomically<T>(string path, Func<Stream, T> write)
    {
        string full = Path.GetFullPath(path);
        string temporary = full + ".partial-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
        try
        {
            T result;
            using (var output = File.Create(temporary))
                result = write(output);
            File.Move(temporary, full, overwrite: true);
            return result;
        }
        finally
        {
            if (File.Exists(temporary))
                File.Delete(temporary);
        }
    }

    private static Command Surprisal(Option<bool> verbose)
    {
        var model = ModelOption();
        var input = new Option<string>("--input", "-i") { Description = "A UTF-8 text file, read as one document.", Required = true };
        var html = new Option<string?>("--html") { Description = "Also write the HTML report to this file." };
        var maxChars = new Option<int>("--max-chars") { Description = "Characters shown in the terminal (the totals cover the whole text).", DefaultValueFactory = _ => 4000 };
        var threads = new Option<int?>("--threads") { Description = $"CPU threads for torch (default {CliApp.DefaultThreads})." };
        var command = new Command("surprisal", "Show a text with the pieces a language model found costly highlighted (bits per piece), and its bits per byte.")
        {
            model, input, html, maxChars, threads,
        };
        command.SetAction(parse =>
        {
            var ui = new ConsoleUi(parse.GetValue(verbose));
            CliApp.ApplyThreads(CliApp.Positive(parse.GetValue(threads), "--threads"));
            string inputPath = parse.GetValue(input)!;
            if (!File.Exists(inputPath))
                throw new CliException($"File not found: '{inputPath}'.");
            string text = File.ReadAllText(inputPath, System.Text.Encoding.UTF8);
            using var languageModel = LoadLanguageModel(parse.GetValue(model)!);
            var surprisal = languageModel.MeasureSurprisal(text);
            Show(surprisal, CliApp.Positive(parse.GetValue(maxChars), "--max-chars")!.Value);
            ui.Line(string.Create(CultureInfo.InvariantCulture,
                $"{surprisal.Bits.Length:N0} tokens, {surprisal.Bytes:N0} bytes, {surprisal.TotalBits:N0} bits: {(surprisal.Bytes == 0 ? "empty text" : surprisal.BitsPerByte.ToString("F3", CultureInfo.InvariantCulture) + " bits per byte")}."));
            if (parse.GetValue(html) is { } htmlPath)
            {
                StagedFile.Check(htmlPath, [("--input", inputPath), ("--model", parse.GetValue(model)!)], "--html");
                new SurprisalReport($"Surprisal of {Path.GetFileName(inputPath)}", [(Path.GetFileName(inputPath), surprisal)]).Save(htmlPath);
                ui.Line($"Wrote {Path.GetFullPath(htmlPath)}.");
            }
            return 0;
        });
        return command;
    }

    /// <summary>The text with each piece's background by its bits: none below 2, then yellow, orange, red from 8.</summary>
    private static void Show(TextSurprisal surprisal, int maxChars)
    {
        var markup = new StringBuilder();
        int shown = 0;
        foreach (var span in surprisal.Spans)
        {
            if (shown >= maxChars)
            {
                markup.Append("[dim]…[/]");
                break;
            }
            shown += span.Text.Length;
            string text = Markup.Escape(span.Text);
            string? style = span.Bits switch { < 2 => null, < 4 => "black on khaki1", < 8 => "black on orange1", _ => "white on red3" };
            markup.Append(style is null ? text : $"[{style}]{text}[/]");
        }
        AnsiConsole.MarkupLine(markup.ToString());
        AnsiConsole.MarkupLine("[dim]Background: bits per piece, none < 2, [/][black on khaki1] 2-4 [/][black on orange1] 4-8 [/][white on red3] ≥ 8 [/]");
    }

    private static MixerLanguageModelTransformer LoadLanguageModel(string path)
    {
        var mlContext = new MLContext(1) { FallbackToCpu = true };
        var (model, _) = ModelFiles.Load(mlContext, path);
        return Flatten(model).OfType<MixerLanguageModelTransformer>().FirstOrDefault()
            ?? throw new CliException($"'{path}' is not a language model written by 'mlnet-mixers generate --text'.");
    }

    private static IEnumerable<ITransformer> Flatten(ITransformer transformer)
        => transformer is IEnumerable<ITransformer> chain ? chain.SelectMany(Flatten) : [transformer];
}
