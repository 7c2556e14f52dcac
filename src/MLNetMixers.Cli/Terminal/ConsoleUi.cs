using System.Diagnostics;
using Spectre.Console;

namespace MLNetMixers.Cli.Terminal;

/// <summary>Reports progress of a long step: how far (0..1) and a one-line detail; milestones (an epoch end) always show.</summary>
internal delegate void ProgressReport(double fraction, string detail, bool milestone);

/// <summary>
/// All console output of the CLI. In an interactive terminal, long steps show Spectre progress bars; when output
/// is redirected (CI logs, pipes, tests), the same steps print plain timestamped lines instead.
/// </summary>
internal sealed class ConsoleUi
{
    private static readonly TimeSpan PlainInterval = TimeSpan.FromSeconds(5);

    public ConsoleUi(bool verbose, bool? interactive = null)
    {
        Verbose = verbose;
        Interactive = interactive ?? (!Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive);
        if (Console.IsOutputRedirected)
        {
            // Logs and pipes get plain text: no colour codes, no cursor movement, a table width that fits the metrics.
            AnsiConsole.Console = AnsiConsole.Create(new AnsiConsoleSettings
            {
                Ansi = AnsiSupport.No,
                ColorSystem = ColorSystemSupport.NoColors,
                Interactive = InteractionSupport.No,
            });
            AnsiConsole.Profile.Width = 120;
        }
    }

    public bool Verbose { get; }

    public bool Interactive { get; }

    /// <summary>A line of output; redirected, it is written as is (a log line or a file list must not be wrapped at the table width).</summary>
    public void Line(string text)
    {
        if (Console.IsOutputRedirected)
            Console.Out.WriteLine(text);
        else
            AnsiConsole.MarkupLine(Markup.Escape(text));
    }

    public void Heading(string text) => AnsiConsole.MarkupLine($"[bold]{Markup.Escape(text)}[/]");

    public void Detail(string text)
    {
        if (Verbose)
            AnsiConsole.MarkupLine($"[grey]{Markup.Escape(text)}[/]");
    }

    /// <summary>Warnings go to stderr, so a pipe or log of stdout holds only results.</summary>
    public void Warning(string text) => Console.Error.WriteLine("warning: " + text);

    /// <summary>Runs <paramref name="work"/> with a progress bar (terminal) or progress lines (redirected).</summary>
    public T Run<T>(string title, Func<ProgressReport, T> work)
    {
        var clock = Stopwatch.StartNew();
        if (!Interactive)
        {
            Line($"{title}...");
            TimeSpan lastPrint = TimeSpan.Zero;
            string lastDetail = "";
            T plainResult = work((fraction, detail, milestone) =>
            {
                lastDetail = detail;
                if (!milestone && clock.Elapsed - lastPrint < PlainInterval)
                    return;
                lastPrint = clock.Elapsed;
                Line($"  [{clock.Elapsed:mm\\:ss}] {title}: {Math.Clamp(fraction, 0, 1),4:P0} {detail}");
            });
            Line($"{title}: done in {clock.Elapsed.TotalSeconds:F1} s{(lastDetail.Length > 0 ? " (" + lastDetail + ")" : "")}");
            return plainResult;
        }

        T result = default!;
        AnsiConsole.Progress()
            .AutoClear(false)
            .HideCompleted(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(),
                     new ElapsedTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask(Markup.Escape(title), maxValue: 1.0);
                task.IsIndeterminate = true;
                result = work((fraction, detail, _) =>
                {
                    task.IsIndeterminate = false;
                    task.Value = Math.Clamp(fraction, 0, 1);
                    task.Description = $"{Markup.Escape(title)} [grey]{Markup.Escape(detail)}[/]";
                });
                task.IsIndeterminate = false;
                task.Value = task.MaxValue;
                task.StopTask();
            });
        return result;
    }

    public void Write(Spectre.Console.Rendering.IRenderable renderable) => AnsiConsole.Write(renderable);

    /// <summary>
    /// The encoder's and trainers' warnings (always) and, with --verbose, their other log lines (epoch summaries, early
    /// stopping, time limits).
    /// </summary>
    public void ForwardTrainerLog(Microsoft.ML.MLContext mlContext)
    {
        mlContext.Log += (_, e) =>
        {
            bool warning = e.Kind == Microsoft.ML.Runtime.ChannelMessageKind.Warning;
            if (!(warning || (Verbose && e.Kind == Microsoft.ML.Runtime.ChannelMessageKind.Info))
                || !(e.Source.Contains("Mixer", StringComparison.Ordinal) || e.Source.Contains("Encoding", StringComparison.Ordinal)))
                return;
            // ML.NET prefixes "[Source=...; Channel, Kind=Info] "; the message alone reads better.
            string message = e.Message.StartsWith("[Source=", StringComparison.Ordinal) && e.Message.IndexOf("] ", StringComparison.Ordinal) is > 0 and var end
                ? e.Message[(end + 2)..]
                : e.Message;
            if (warning)
                Warning(message);
            else
                AnsiConsole.MarkupLine($"[grey]{Markup.Escape(message)}[/]");
        };
    }
}
